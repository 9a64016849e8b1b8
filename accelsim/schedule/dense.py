"""The ``dense`` scheduler: every fold of every layer, no gating. The baseline of all others."""

from __future__ import annotations

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import fold_cycles, get_timing
from accelsim.config import HardwareConfig
from accelsim.schedule.plan import RUN_DTYPE, LayerPlan
from accelsim.workload.layer import Layer


def _tile_widths(extent: int, size: int) -> list[tuple[int, int]]:
    """``(width, count)`` of the tiles covering ``extent``: full tiles, then the edge tile."""
    full, edge = divmod(extent, size)
    return [(width, count) for width, count in ((size, full), (edge, 1 if edge else 0)) if count]


def dense_runs(rows_extent: int, cols_extent: int, time_steps: int, config: HardwareConfig,
               repeat: int = 1) -> np.ndarray:
    """The folds of a dense GEMM grouped by shape: at most four runs (full or edge in rows ×
    full or edge in columns), each ``repeat`` times (once per group of a grouped conv)."""
    shapes = [(rows, cols, row_count * col_count * repeat)
              for cols, col_count in _tile_widths(cols_extent, config.array_cols)
              for rows, row_count in _tile_widths(rows_extent, config.array_rows)]
    runs = np.zeros(len(shapes), dtype=RUN_DTYPE)
    runs["rows_used"], runs["cols_used"], runs["count"] = np.array(shapes, dtype=np.int64).T
    runs["time_steps"] = time_steps
    runs["cycles"] = fold_cycles(config.dataflow, config.array_rows, config.array_cols,
                                 time_steps, config.timing)
    return runs


class DenseScheduler:
    """Runs every fold: the dense baseline on the same hardware.

    Dense folds are independent and, without a memory model, their order changes no count,
    so the plan lists them grouped by shape rather than in loop order.
    """

    name = "dense"

    def plan(self, layer: Layer, config: HardwareConfig) -> LayerPlan:
        m, n_per_group, k = layer.group_gemm
        rows, cols, time_steps = get_dataflow(config.dataflow).dims(m, n_per_group, k)
        runs = dense_runs(rows, cols, time_steps, config, repeat=layer.groups)
        return LayerPlan(layer, self.name, runs, get_timing(config.timing).layer_offset_cycles)
