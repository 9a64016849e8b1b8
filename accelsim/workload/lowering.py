"""Lowering a convolution onto the GEMM that the array computes (im2col).

Used by the reference checks: the per-cycle model multiplies the lowered matrices, and the
result must equal the convolution computed directly. Layout conventions:

* input ``x``: ``in_channels × in_h × in_w``;
* weights ``w``: ``out_channels × in_channels/groups × kernel_h × kernel_w`` (PyTorch's);
* ``A`` rows are output pixels in row-major order, ``A`` columns are (channel, ky, kx) in that
  order; ``W`` is ``K × N``; the output ``O = A·W`` is ``M × N``.

Padding is split as PyTorch splits it: ``pad_h // 2`` rows on top, the rest at the bottom.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload.layer import Layer


def im2col(layer: Layer, x: np.ndarray, group: int = 0) -> np.ndarray:
    """``A`` (M × K) of one group of ``layer`` for the input ``x``."""
    per_group = layer.in_channels // layer.groups
    channels = x[group * per_group:(group + 1) * per_group]
    top, left = layer.pad_h // 2, layer.pad_w // 2
    padded = np.pad(channels, ((0, 0), (top, layer.pad_h - top), (left, layer.pad_w - left)))
    rows = []
    for oy in range(layer.out_h):
        for ox in range(layer.out_w):
            y, x0 = oy * layer.stride, ox * layer.stride
            rows.append(padded[:, y:y + layer.kernel_h, x0:x0 + layer.kernel_w].reshape(-1))
    return np.stack(rows)


def weight_matrix(layer: Layer, w: np.ndarray, group: int = 0) -> np.ndarray:
    """``W`` (K × N/groups) of one group of ``layer``."""
    per_group = layer.out_channels // layer.groups
    filters = w[group * per_group:(group + 1) * per_group]
    return filters.reshape(per_group, -1).T


def output_feature_map(layer: Layer, outputs: list[np.ndarray]) -> np.ndarray:
    """Reassemble the per-group GEMM outputs (each M × N/groups) as ``out_channels × out_h × out_w``."""
    stacked = np.concatenate(outputs, axis=1)  # M × N
    return stacked.T.reshape(layer.out_channels, layer.out_h, layer.out_w)
