"""Per-cycle, register-level reference model of the R×C systolic array.

This is the ground truth that the closed forms in :mod:`accelsim.arch.timing` are tested
against. It favours being obviously correct over being fast: every cycle, every operand
register takes its neighbour's value (one hop per cycle), the edge registers take the next
skewed input, and each PE multiplies and accumulates when both of its operands are present.
A fold ends when nothing is left to inject and nothing is in flight; the cycle count is read
off that state, never from a formula. Operand tiles narrower than the array are padded with
zeros that travel like real data, so an edge fold is clocked exactly like a full one.

Two machines cover the three dataflows (see :mod:`accelsim.arch.dataflow` for the table):

* the **output-stationary** machine (OS): one operand enters at the left edge (row ``i``
  skewed by ``i`` cycles), the other at the top edge (column ``j`` skewed by ``j``); results
  accumulate in place and are then shifted out of the bottom edge, one row per cycle;
* the **stationary-operand** machine (WS, IS): a tile is first shifted in from the top, one
  row per cycle; the streamed operand enters at the left edge (row ``i`` skewed by ``i``),
  partial sums flow down and leave the bottom edge. Partial sums of different row folds
  (slices of the reduction) are added outside the array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from accelsim.arch.dataflow import Dataflow, get_dataflow


@dataclass(frozen=True)
class FoldResult:
    """What one fold of the reference machine produced."""

    output: np.ndarray  #: results leaving the array (OS: R×C, stationary: T×C)
    cycles: int  #: cycles from the first shift-in to the last result leaving
    pe_macs: int  #: MACs performed, padded lanes included
    useful_macs: int  #: MACs whose two operands are both real (not padding)


@dataclass(frozen=True)
class ReferenceResult:
    """A whole GEMM run fold after fold on the reference machine."""

    output: np.ndarray  #: the M×N result
    cycles: int  #: sum of the folds' cycles (folds never overlap)
    folds: int
    pe_macs: int
    useful_macs: int


def shift_right(values: np.ndarray, edge: np.ndarray) -> np.ndarray:
    return np.concatenate([edge[:, None], values[:, :-1]], axis=1)


def shift_down(values: np.ndarray, edge: np.ndarray) -> np.ndarray:
    return np.concatenate([edge[None, :], values[:-1, :]], axis=0)


class Edge(NamedTuple):
    """What enters one edge of the array in one cycle, per lane."""

    value: np.ndarray
    present: np.ndarray  #: a token enters this lane (padding zeros included)
    real: np.ndarray  #: that token is real data, not padding
    step: np.ndarray  #: which step of the lane's stream it is (may be out of range)


def _skewed_edge(stream: np.ndarray, real: np.ndarray, cycle: int) -> Edge:
    """Tokens entering an edge at ``cycle``: lane ``i`` takes step ``cycle − i`` of its stream
    (``stream`` is lanes × steps)."""
    lanes, steps = stream.shape
    step = cycle - np.arange(lanes)
    present = (step >= 0) & (step < steps)
    safe = np.clip(step, 0, steps - 1)
    value = np.where(present, stream[np.arange(lanes), safe], 0)
    return Edge(value, present, present & real[np.arange(lanes), safe], step)


def output_stationary_fold(left: np.ndarray, top: np.ndarray, left_real: np.ndarray,
                           top_real: np.ndarray) -> FoldResult:
    """Run one OS fold: ``left`` is R×T (row ``i`` enters row ``i``), ``top`` is T×C."""
    rows, cols = left.shape[0], top.shape[1]
    zeros = np.zeros((rows, cols), dtype=left.dtype)
    absent = np.zeros((rows, cols), dtype=bool)
    h_val, h_ok, h_real = zeros.copy(), absent.copy(), absent.copy()
    v_val, v_ok, v_real = zeros.copy(), absent.copy(), absent.copy()
    acc, pe_macs, useful = zeros.copy(), 0, 0
    cycle = 0
    while True:
        west = _skewed_edge(left, left_real, cycle)
        h_val, h_ok, h_real = (shift_right(h_val, west.value), shift_right(h_ok, west.present),
                               shift_right(h_real, west.real))
        north = _skewed_edge(top.T, top_real.T, cycle)
        v_val, v_ok, v_real = (shift_down(v_val, north.value), shift_down(v_ok, north.present),
                               shift_down(v_real, north.real))
        pending = (west.step < left.shape[1]).any() or (north.step < top.shape[0]).any()
        if not (h_ok.any() or v_ok.any() or pending):
            break
        if not np.array_equal(h_ok, v_ok):
            raise AssertionError(f"OS operands out of step at cycle {cycle}")
        acc = acc + np.where(h_ok, h_val * v_val, 0)
        pe_macs += int(h_ok.sum())
        useful += int((h_real & v_real).sum())
        cycle += 1
    # Drain: the bottom row leaves the array, every other row moves down one.
    origin = np.arange(rows)
    held = np.ones(rows, dtype=bool)
    output = np.zeros_like(acc)
    while held.any():
        if held[-1]:
            output[origin[-1]] = acc[-1]
        acc = shift_down(acc, np.zeros(cols, dtype=acc.dtype))
        origin = np.concatenate([[-1], origin[:-1]])
        held = np.concatenate([[False], held[:-1]])
        cycle += 1
    return FoldResult(output, cycle, pe_macs, useful)


def stationary_operand_fold(stationary: np.ndarray, stream: np.ndarray,
                            stationary_real: np.ndarray, stream_real: np.ndarray) -> FoldResult:
    """Run one WS/IS fold: ``stationary`` is R×C, ``stream`` is T×R (its column ``i`` enters
    array row ``i``). Returns the T×C sums leaving the bottom edge."""
    rows, cols = stationary.shape
    steps = stream.shape[0]
    s_val = np.zeros_like(stationary)
    s_ok = np.zeros((rows, cols), dtype=bool)
    s_real = np.zeros((rows, cols), dtype=bool)
    cycle = 0
    while not s_ok.all():  # shift the tile in from the top, last row first
        source = rows - 1 - cycle
        s_val = shift_down(s_val, stationary[source])
        s_ok = shift_down(s_ok, np.ones(cols, dtype=bool))
        s_real = shift_down(s_real, stationary_real[source])
        cycle += 1
    if not np.array_equal(s_val, stationary):
        raise AssertionError("stationary tile landed in the wrong PEs")

    zeros = np.zeros((rows, cols), dtype=stationary.dtype)
    absent = np.zeros((rows, cols), dtype=bool)
    h_val, h_ok, h_real = zeros.copy(), absent.copy(), absent.copy()
    h_tag = np.zeros((rows, cols), dtype=np.int64)  # which time step a token belongs to
    p_val, p_ok = zeros.copy(), absent.copy()  # each PE's partial sum of the last cycle
    output = np.zeros((steps, cols), dtype=stationary.dtype)
    written = np.zeros((steps, cols), dtype=bool)
    pe_macs, useful, step = 0, 0, 0
    while True:
        west = _skewed_edge(stream.T, stream_real.T, step)
        h_val, h_ok = shift_right(h_val, west.value), shift_right(h_ok, west.present)
        h_real, h_tag = shift_right(h_real, west.real), shift_right(h_tag, west.step)
        p_in = shift_down(p_val, np.zeros(cols, dtype=p_val.dtype))
        p_in_ok = shift_down(p_ok, h_ok[0])  # the top row starts a fresh sum
        if not (h_ok.any() or p_in_ok.any() or (west.step < steps).any()):
            break
        if not np.array_equal(p_in_ok, h_ok):
            raise AssertionError(f"partial sums out of step at stream cycle {step}")
        p_val = np.where(h_ok, p_in + h_val * s_val, 0)
        p_ok = h_ok
        pe_macs += int(h_ok.sum())
        useful += int((h_ok & h_real & s_real).sum())
        leaving = p_ok[-1]
        if written[h_tag[-1][leaving], np.flatnonzero(leaving)].any():
            raise AssertionError("an output left the array twice")
        output[h_tag[-1][leaving], np.flatnonzero(leaving)] = p_val[-1][leaving]
        written[h_tag[-1][leaving], np.flatnonzero(leaving)] = True
        step += 1
    if not written.all():
        raise AssertionError("some outputs never left the array")
    return FoldResult(output, cycle + step, pe_macs, useful)


def _operand_for(axes: tuple[str, str], a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The operand (A is M×K, W is K×N) whose axes are ``axes``, transposed to that order."""
    named = {("M", "K"): a, ("K", "N"): w}
    for (first, second), matrix in named.items():
        if (first, second) == axes:
            return matrix
        if (second, first) == axes:
            return matrix.T
    raise ValueError(f"no operand has axes {axes}")


def pad_tile(matrix: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    padded = np.zeros(shape, dtype=matrix.dtype)
    real = np.zeros(shape, dtype=bool)
    padded[: matrix.shape[0], : matrix.shape[1]] = matrix
    real[: matrix.shape[0], : matrix.shape[1]] = True
    return padded, real


def simulate_gemm(a: np.ndarray, w: np.ndarray, dataflow: str | Dataflow, rows: int,
                  cols: int) -> ReferenceResult:
    """Compute ``a @ w`` on an R×C array cycle by cycle, fold after fold.

    Folds are visited column fold outside, row fold inside; results of row folds that slice
    the reduction (WS, IS) are added outside the array.
    """
    flow = get_dataflow(dataflow)
    # accumulate wide, as the hardware's accumulators are: int8 operands must not wrap
    dtype = np.result_type(a, w, np.int64)
    a, w = np.asarray(a, dtype=dtype), np.asarray(w, dtype=dtype)
    m, k = a.shape
    n = w.shape[1]
    extent = {"M": m, "N": n, "K": k}
    r_dim, c_dim, t_dim = flow.rows_dim, flow.cols_dim, flow.time_dim
    steps = extent[t_dim]
    output = np.zeros((extent[r_dim] if flow.drains_accumulators else steps, extent[c_dim]), dtype=dtype)
    totals = dict(cycles=0, folds=0, pe_macs=0, useful_macs=0)
    for c0 in range(0, extent[c_dim], cols):
        c1 = min(c0 + cols, extent[c_dim])
        for r0 in range(0, extent[r_dim], rows):
            r1 = min(r0 + rows, extent[r_dim])
            if flow.drains_accumulators:
                left, left_real = pad_tile(_operand_for((r_dim, t_dim), a, w)[r0:r1], (rows, steps))
                top, top_real = pad_tile(_operand_for((t_dim, c_dim), a, w)[:, c0:c1], (steps, cols))
                fold = output_stationary_fold(left, top, left_real, top_real)
                output[r0:r1, c0:c1] += fold.output[: r1 - r0, : c1 - c0]
            else:
                tile, tile_real = pad_tile(_operand_for((r_dim, c_dim), a, w)[r0:r1, c0:c1], (rows, cols))
                stream, stream_real = pad_tile(_operand_for((t_dim, r_dim), a, w)[:, r0:r1], (steps, rows))
                fold = stationary_operand_fold(tile, stream, tile_real, stream_real)
                output[:, c0:c1] += fold.output[:, : c1 - c0]
            totals["cycles"] += fold.cycles
            totals["folds"] += 1
            totals["pe_macs"] += fold.pe_macs
            totals["useful_macs"] += fold.useful_macs
    # The machine's output axes are (rows, cols) for OS and (time, cols) otherwise.
    axes = (r_dim, c_dim) if flow.drains_accumulators else (t_dim, c_dim)
    result = output if axes == ("M", "N") else output.T
    return ReferenceResult(result, **totals)
