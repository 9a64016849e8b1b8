"""The ``dense`` scheduler: every fold of every layer, no gating. The baseline of all others."""

from __future__ import annotations

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import fold_cycles, get_timing
from accelsim.config import HardwareConfig
from accelsim.schedule.plan import RUN_DTYPE, LayerPlan, merge_runs
from accelsim.workload.layer import Layer


def _tiles(extent: int, size: int) -> np.ndarray:
    """Used widths of the tiles that cover ``extent`` with tiles of ``size``."""
    widths = np.full(-(-extent // size), size, dtype=np.int64)
    widths[-1] = extent - size * (len(widths) - 1)
    return widths


def dense_runs(rows_extent: int, cols_extent: int, time_steps: int, config: HardwareConfig,
               repeat: int = 1) -> np.ndarray:
    """Runs of a dense GEMM, column folds outside and row folds inside, the whole grid
    ``repeat`` times (once per group of a grouped convolution)."""
    row_widths = _tiles(rows_extent, config.array_rows)
    col_widths = _tiles(cols_extent, config.array_cols)
    runs = np.zeros(len(row_widths) * len(col_widths), dtype=RUN_DTYPE)
    runs["count"] = 1
    runs["rows_used"] = np.tile(row_widths, len(col_widths))
    runs["cols_used"] = np.repeat(col_widths, len(row_widths))
    runs["time_steps"] = time_steps
    runs["cycles"] = fold_cycles(config.dataflow, config.array_rows, config.array_cols,
                                 time_steps, config.timing)
    runs = merge_runs(runs)
    if repeat > 1:
        runs = merge_runs(np.tile(runs, repeat))
    return runs


class DenseScheduler:
    """Runs every fold: the dense baseline on the same hardware."""

    name = "dense"

    def plan(self, layer: Layer, config: HardwareConfig) -> LayerPlan:
        m, n_per_group, k = layer.group_gemm
        rows, cols, time_steps = get_dataflow(config.dataflow).dims(m, n_per_group, k)
        runs = dense_runs(rows, cols, time_steps, config, repeat=layer.groups)
        return LayerPlan(layer, self.name, runs, get_timing(config.timing).layer_offset_cycles)
