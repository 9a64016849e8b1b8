"""The discrete-event model: the array, its double-buffered SRAMs and the DRAM behind them.

A SimPy process issues each layer's folds run by run (an event per run of identical folds,
never per cycle). The memory system decides when a fold may start:

* **SRAMs** (ifmap, filter, ofmap) are double-buffered: while fold *i* computes, the operands
  of fold *i + 1* are fetched into the other half.
* **Reuse**: when a layer's whole input feature map fits in half of the ifmap SRAM it is
  fetched once, with the layer's first fold; otherwise every fold fetches its share of it:
  its im2col tile divided by the layer's im2col duplication factor ``kh·kw / stride²`` (at
  least 1), the average number of windows that read one input. Filters likewise: fetched once
  when they fit in half of the filter SRAM, else every fold fetches its weight tile. Folds are
  issued with an inner loop along the output pixels where they lie on the array (OS, IS),
  else along the output channels (WS); the operand that loop does not walk (the weights, or
  for WS the inputs) is fetched once per sweep of the inner loop when its tile fits in half
  of its SRAM.
* **DRAM** is one server: a transfer of b bytes occupies it for b / bandwidth cycles and its
  data arrive ``dram_latency_cycles`` after it ends. Fold *i + 1*'s fetch is issued when fold
  *i* starts (its buffer half is then free) and the DRAM is idle.
* **Writes**: a layer's output feature map goes to DRAM when the layer ends (posted: the array
  does not wait, later fetches queue behind it).
* **Partial sums between the passes** of a gated layer stay in the ofmap SRAM when they fit;
  otherwise they are written to DRAM after the base pass and each conditional fold fetches
  its tile of them back. Decision bits (one per output) are written to and read from SRAM.

For fold *i* with compute cycles c and fetch time β = bytes / bandwidth, a fold waits
``max(0, β + latency − c)`` cycles in steady state; with unbounded bandwidth and nothing to
fetch, never. These are the stall cycles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from accelsim.arch.dataflow import get_dataflow
from accelsim.config import HardwareConfig
from accelsim.schedule.plan import PHASE_BASE, PHASE_CONDITIONAL, LayerPlan, inner_dim

TRAFFIC_FIELDS = ("dram_read_bytes", "dram_write_bytes", "ifmap_sram_read_bytes",
                  "ifmap_sram_write_bytes", "filter_sram_read_bytes", "filter_sram_write_bytes",
                  "ofmap_sram_read_bytes", "ofmap_sram_write_bytes", "decision_sram_bytes")


@dataclass(frozen=True)
class LayerTiming:
    """When one layer ran, in array cycles from the start of the network, and what it moved."""

    layer: str
    start_cycle: int
    cycles_compute: int  #: cycles the array spent on the layer's folds
    cycles_stall: int  #: cycles the array waited for operands
    traffic: dict[str, int] = field(default_factory=dict)  #: bytes per TRAFFIC_FIELDS entry

    @property
    def cycles_total(self) -> int:
        return self.cycles_compute + self.cycles_stall


@dataclass(frozen=True)
class _FoldBytes:
    """Per run of a plan: bytes of each operand tile of one fold."""

    inputs: np.ndarray  # A tile: pixels × reduction
    weights: np.ndarray  # W tile: reduction × channels
    outputs: np.ndarray  # output tile: pixels × channels (elements)


def _fold_bytes(plan: LayerPlan, config: HardwareConfig) -> _FoldBytes:
    flow = get_dataflow(config.dataflow)
    runs = plan.runs
    extent = {flow.rows_dim: runs["rows_used"], flow.cols_dim: runs["cols_used"],
              flow.time_dim: runs["time_steps"]}
    operand = config.operand_bits / 8
    return _FoldBytes(extent["M"] * extent["K"] * operand, extent["K"] * extent["N"] * operand,
                      extent["M"] * extent["N"])


class _Memory:
    """DRAM and SRAM state carried from layer to layer."""

    def __init__(self, config: HardwareConfig) -> None:
        self.config = config
        self.ideal = math.isinf(config.dram_bandwidth_bytes_per_cycle)
        self.bandwidth = config.dram_bandwidth_bytes_per_cycle
        self.latency = config.dram_latency_cycles
        self.dram_free = 0.0  # when the DRAM finishes its queued transfers
        self.array_free = 0.0  # when the array finishes its last fold
        self.last_start = 0.0  # when the last fold started (its successor's buffer half is free)

    def _transfer(self, size: float) -> float:
        return size / self.bandwidth

    def _first_fold(self, fetch: float) -> float:
        """Start of a run's first fold, whose fetch is issued when the previous fold starts
        and the DRAM is free."""
        if fetch <= 0 or self.ideal:
            return self.array_free
        issue = max(self.last_start, self.dram_free)
        self.dram_free = issue + self._transfer(fetch)
        return max(self.array_free, self.dram_free + self.latency)

    def layer(self, plan: LayerPlan) -> dict[str, int]:
        """Issue one layer's folds (the array is then busy until ``array_free``); returns the
        bytes it moved."""
        config, layer, runs = self.config, plan.layer, plan.runs
        tiles = _fold_bytes(plan, config)
        operand, accumulator = config.operand_bits / 8, config.accumulator_bits / 8
        kib = 1024
        ifmap_bytes = layer.in_channels * layer.in_h * layer.in_w * operand
        filter_bytes = layer.N * layer.K * operand
        ifmap_resident = ifmap_bytes <= config.ifmap_sram_kib * kib / 2
        filter_resident = filter_bytes <= config.filter_sram_kib * kib / 2
        gated = bool((runs["phase"] == PHASE_BASE).any())
        psums_spill = gated and layer.M * layer.N * accumulator > config.ofmap_sram_kib * kib
        conditional = runs["phase"] == PHASE_CONDITIONAL
        duplication = max(1.0, layer.kernel_h * layer.kernel_w / layer.stride ** 2)
        inputs, weights = tiles.inputs / duplication, tiles.weights.astype(np.float64)
        # the operand the inner loop does not walk is fetched once per sweep when its tile fits
        sweep = runs["inner_folds"]
        if inner_dim(config.dataflow) == "M":
            weights = np.where(weights <= config.filter_sram_kib * kib / 2, weights / sweep, weights)
        else:
            inputs = np.where(inputs <= config.ifmap_sram_kib * kib / 2, inputs / sweep, inputs)
        input_fetch = np.where(ifmap_resident, 0, inputs)
        weight_fetch = np.where(filter_resident, 0, weights)
        per_fold = input_fetch + weight_fetch + np.where(conditional & psums_spill, tiles.outputs * accumulator, 0)
        once = (ifmap_bytes if ifmap_resident else 0) + (filter_bytes if filter_resident else 0)
        first = True
        for count, cycles, fetch in zip(runs["count"].tolist(), runs["cycles"].tolist(), per_fold.tolist()):
            if count == 0:
                continue
            fold_start = self._first_fold(fetch + (once if first else 0))
            first = False
            # the run's later folds: each prefetch is issued as its predecessor starts
            steady = not self.ideal and fetch > 0
            period = max(cycles, self._transfer(fetch) + self.latency) if steady else cycles
            self.last_start = fold_start + (count - 1) * period
            if steady and count > 1:
                self.dram_free = self.last_start - period + self._transfer(fetch)
            self.array_free = self.last_start + cycles
        self.array_free += plan.offset_cycles  # the convention's offset (scalesim: −1)
        written = layer.M * layer.N * operand + (layer.M * layer.N * accumulator if psums_spill else 0)
        if not self.ideal:
            self.dram_free = max(self.dram_free, self.array_free) + self._transfer(written)
        counts = runs["count"]
        output_elements = float((counts * tiles.outputs).sum())
        written_once = sum(len(item.pixels) * len(item.channels) for item in plan.items
                           if item.phase != PHASE_CONDITIONAL) or layer.M * layer.N
        # outputs added onto partial sums already stored: further slices of the reduction
        # (WS, IS) and every conditional result (onto its base partial sum)
        accumulated = output_elements - written_once
        return {
            "dram_read_bytes": int(round(float((counts * per_fold).sum()) + once)),
            "dram_write_bytes": int(round(written)),
            "ifmap_sram_read_bytes": int(round(float((counts * tiles.inputs).sum()))),
            "ifmap_sram_write_bytes": int(round(float((counts * input_fetch).sum())
                                                + (ifmap_bytes if ifmap_resident else 0))),
            "filter_sram_read_bytes": int(round(float((counts * tiles.weights).sum()))),
            "filter_sram_write_bytes": int(round(float((counts * weight_fetch).sum())
                                                 + (filter_bytes if filter_resident else 0))),
            "ofmap_sram_read_bytes": int(round(accumulated * accumulator)),
            "ofmap_sram_write_bytes": int(round(output_elements * accumulator)),
            "decision_sram_bytes": 2 * math.ceil(layer.M * layer.N / 8) if gated else 0,
        }


def _array_process(env: simpy.Environment, plans: Sequence[LayerPlan], memory: _Memory,
                   timeline: list[LayerTiming]):
    for plan in plans:
        begin = env.now
        traffic = memory.layer(plan)
        yield env.timeout(memory.array_free - begin)
        elapsed = int(math.ceil(env.now - begin - 1e-9))  # a partly used cycle is a cycle
        timeline.append(LayerTiming(plan.layer.name, int(round(begin)), plan.cycles,
                                    max(0, elapsed - plan.cycles), traffic))


def simulate(plans: Sequence[LayerPlan], config: HardwareConfig) -> list[LayerTiming]:
    """Run the plans in order on one array and its memory; one :class:`LayerTiming` per plan."""
    env = simpy.Environment()
    timeline: list[LayerTiming] = []
    env.process(_array_process(env, plans, _Memory(config), timeline))
    env.run()
    return timeline
