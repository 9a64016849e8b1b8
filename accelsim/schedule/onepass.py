"""One-pass execution of a gated layer: the dense folds, base indices first, off outputs
clock-gated after their decision.

Each fold is a fold of the dense layer. Its reduction indices stream in one order for all its
columns: the base indices of the gate groups it holds, group by group, then the rest
(:meth:`GateGeometry.one_pass_order`). Base MACs go to a base accumulator (OS) or partial-sum
lane (WS, IS) and the others to a second one, so every output's base partial sum ``Yp`` is
exact; when an output's last base MAC has been accumulated its partial sum is compared with
its channel's threshold where it sits, and ``gate_latency_cycles`` later the PEs of an output
that is off stop (clock-gated) for the rest of its conditional indices. The result is
``Yp + d·Yc``. Cycles are the dense layer's exactly: nothing is skipped, the gates only save
energy. What an off output still runs, per fold column tile and group at position ``p`` of
the tile's groups, whose base ends at stream position ``e = (p + 1)·K_base`` (``K_base`` for
a shared base):

* OS, K streams through each fold: ``min(K, e + L)`` MACs;
* WS/IS, K is cut into row folds of R indices, each streaming T steps: every index of the
  folds up to the one holding position ``e − 1`` (fold ``f_e``), then, in a later fold f, the
  rows ``r`` whose decision is not yet there: ``gap(f) + r < R + L``, where ``gap(f)`` is the
  number of cycles between the starts of fold ``f_e`` and fold f (``(f − f_e)·max(T, R)``
  pipelined, ``(f − f_e)·(2R + C + T − 2)`` otherwise).
"""

from __future__ import annotations

import numpy as np

from accelsim.arch.timing import fold_cycles, get_timing, sequence_overhead
from accelsim.schedule.plan import PHASE_ONE_PASS, LayerPlan, WorkItem, gemm_runs


def _off_output_macs(geometry, position_end: int) -> int:
    """MACs an off output runs when its base ends at stream position ``position_end``."""
    config, layer = geometry.config, geometry.layer
    k, rows, latency = layer.K, config.array_rows, config.gate_latency_cycles
    if geometry.flow.drains_accumulators:
        return min(k, position_end + latency)
    steps = geometry.flow.dims(layer.M, layer.N, layer.K)[2]
    period = int(fold_cycles(config.dataflow, rows, config.array_cols, steps, config.timing))
    decided_in = (position_end - 1) // rows
    executed = min(k, (decided_in + 1) * rows)
    for fold in range(decided_in + 1, -(-k // rows)):
        rows_used = min(rows, k - fold * rows)
        executed += min(rows_used, max(0, rows + latency - (fold - decided_in) * period))
    return executed


def one_pass_executed_macs(geometry) -> int:
    """MACs on real operands the one-pass layer performs (see the module docstring)."""
    layer, config = geometry.layer, geometry.config
    off_per_channel = (~geometry.decisions).sum(axis=0)
    group = geometry.group_of_channel
    if geometry.flow.cols_dim == "N":  # a fold column tile holds C consecutive channels
        first = np.arange(layer.N) // config.array_cols * config.array_cols
        position = group - group[first]
    else:  # every fold holds every channel, and each pixel tile runs the same stream
        position = group
    ends = np.full(layer.N, geometry.k_base) if geometry.shared_base else (position + 1) * geometry.k_base
    runs = {int(end): _off_output_macs(geometry, int(end)) for end in np.unique(ends)}
    per_channel = np.array([runs[int(end)] for end in ends], dtype=np.int64)
    return int(geometry.decisions.sum()) * layer.K + int((off_per_channel * per_channel).sum())


def one_pass_plan(geometry, scheduler: str) -> LayerPlan:
    """The one-pass plan of a gated layer for one image."""
    layer, config = geometry.layer, geometry.config
    item = WorkItem(PHASE_ONE_PASS, np.arange(layer.M), np.arange(layer.N), np.arange(layer.K),
                    geometry.needed_macs, geometry.one_pass_order, lambda: geometry.base_mask)
    runs = gemm_runs(layer.M, layer.N, layer.K, config.array_rows, config.array_cols, config.dataflow,
                     config.timing, PHASE_ONE_PASS)
    steps = geometry.flow.dims(layer.M, layer.N, layer.K)[2]
    offset = get_timing(config.timing).layer_offset_cycles + sequence_overhead(
        config.dataflow, config.array_rows, config.array_cols, steps, steps, config.timing)
    return LayerPlan(layer, scheduler, runs, offset, geometry.needed_macs, (item,),
                     float(geometry.decisions.mean()), geometry.groups, "one-pass",
                     one_pass_executed_macs(geometry), granular_macs=geometry.granular_macs)
