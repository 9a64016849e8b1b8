"""A GEMM cut into the folds of the sequence machine (:mod:`accelsim.reference.sequence`), in
the machine's own layout (:class:`SequenceFold`): column fold outside, row fold inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.arch.dataflow import Dataflow, get_dataflow
from accelsim.reference.array import pad_tile


@dataclass(frozen=True)
class SequenceFold:
    """One fold of a sequence, in the machine's own layout.

    OS: ``first`` is the left operand R×T (row i enters array row i), ``second`` the top
    operand T×C. WS/IS: ``first`` is the stationary tile R×C, ``second`` the stream T×R.
    ``first_real``/``second_real`` mark real data (the rest is zero padding). ``outputs``
    names the global output each result belongs to (OS: R×C; WS/IS: T×C; −1: padding).
    ``base`` (T×R×C, optional) tags the MAC of step t in PE (r, c) as a base MAC.
    """

    first: np.ndarray
    second: np.ndarray
    first_real: np.ndarray
    second_real: np.ndarray
    outputs: np.ndarray
    base: np.ndarray | None = None


def gemm_folds(a: np.ndarray, w: np.ndarray, dataflow: str | Dataflow, rows: int, cols: int,
               k_order=None, base: np.ndarray | None = None) -> list[SequenceFold]:
    """The folds of ``a @ w`` (A is M×K, W is K×N), column fold outside, row fold inside.

    ``k_order(columns)`` gives the order of the reduction indices for the fold column tile
    whose GEMM columns are ``columns`` (default: natural order). ``base`` (K×N bool) tags the
    base MACs. Outputs are numbered ``m·N + n``.
    """
    flow = get_dataflow(dataflow)
    m, k = a.shape
    n = w.shape[1]
    extent = {"M": m, "N": n, "K": k}
    folds = []
    ids = np.arange(m * n).reshape(m, n)
    for c0 in range(0, extent[flow.cols_dim], cols):
        columns = np.arange(c0, min(c0 + cols, extent[flow.cols_dim]))
        order = np.arange(k) if k_order is None else np.asarray(k_order(columns))
        if flow.drains_accumulators:  # OS: rows are pixels, columns channels, K streams
            for r0 in range(0, m, rows):
                pixels = np.arange(r0, min(r0 + rows, m))
                left, left_real = pad_tile(a[np.ix_(pixels, order)], (rows, k))
                top, top_real = pad_tile(w[np.ix_(order, columns)], (k, cols))
                out = np.full((rows, cols), -1, dtype=np.int64)
                out[: len(pixels), : len(columns)] = ids[np.ix_(pixels, columns)]
                tag = None
                if base is not None:
                    tag = np.zeros((k, rows, cols), dtype=bool)
                    tag[:, : len(pixels), : len(columns)] = base[np.ix_(order, columns)][:, None, :]
                folds.append(SequenceFold(left, top, left_real, top_real, out, tag))
            continue
        for r0 in range(0, k, rows):
            ks = order[r0:r0 + rows]
            if flow.cols_dim == "N":  # WS: W tile stationary, pixels stream
                tile, tile_real = pad_tile(w[np.ix_(ks, columns)], (rows, cols))
                stream, stream_real = pad_tile(a[:, ks], (m, rows))
                out = np.full((m, cols), -1, dtype=np.int64)
                out[:, : len(columns)] = ids[:, columns]
                tag_of = None if base is None else base[np.ix_(ks, columns)][None, :, :].repeat(m, 0)
            else:  # IS: A tile stationary (K × pixels), channels stream
                tile, tile_real = pad_tile(a[np.ix_(columns, ks)].T, (rows, cols))
                stream, stream_real = pad_tile(w[ks, :].T, (n, rows))
                out = np.full((n, cols), -1, dtype=np.int64)
                out[:, : len(columns)] = ids[columns, :].T
                tag_of = None if base is None else np.broadcast_to(
                    base[ks, :].T[:, :, None], (n, len(ks), len(columns)))
            tag = None
            if tag_of is not None:
                tag = np.zeros((stream.shape[0], rows, cols), dtype=bool)
                tag[:, : len(ks), : len(columns)] = tag_of
            folds.append(SequenceFold(tile, stream, tile_real, stream_real, out, tag))
    return folds
