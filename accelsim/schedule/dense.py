"""The ``dense`` scheduler: every fold of every layer, no gating. The baseline of all others."""

from __future__ import annotations

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import get_timing, sequence_overhead
from accelsim.config import HardwareConfig
from accelsim.schedule.plan import PHASE_DENSE, LayerPlan, WorkItem, gemm_runs
from accelsim.workload.layer import Layer


def dense_plan(layer: Layer, config: HardwareConfig, scheduler: str) -> LayerPlan:
    """Every fold of ``layer``, grouped by shape (dense folds are independent and, stall-free,
    their order changes no count). A grouped convolution runs one GEMM per group; all of a
    layer's folds are one sequence."""
    m, n_per_group, k = layer.group_gemm
    runs = gemm_runs(m, n_per_group, k, config.array_rows, config.array_cols, config.dataflow,
                     config.timing, PHASE_DENSE, repeat=layer.groups)
    # work items index the layer's own GEMM, which only an ungrouped layer has
    items = () if layer.groups > 1 else (
        WorkItem(PHASE_DENSE, np.arange(m), np.arange(n_per_group), np.arange(k), layer.macs),)
    steps = get_dataflow(config.dataflow).dims(m, n_per_group, k)[2]
    offset = get_timing(config.timing).layer_offset_cycles + sequence_overhead(
        config.dataflow, config.array_rows, config.array_cols, steps, steps, config.timing)
    return LayerPlan(layer, scheduler, runs, offset, layer.macs, items)


class DenseScheduler:
    """Runs every fold and ignores the gates: the dense baseline on the same hardware."""

    name = "dense"

    def __init__(self, timer=None) -> None:
        pass  # plans nothing it would need to time

    def reads_calibration(self, config: HardwareConfig) -> bool:
        return False

    def plan(self, layer: Layer, config: HardwareConfig, gates=None) -> LayerPlan:
        return dense_plan(layer, config, self.name)
