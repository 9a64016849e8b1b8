"""The discrete-event model: the array, its double-buffered SRAMs and the DRAM behind them.

A SimPy process runs the layers in order, an event per layer; within a layer the slice
machine issues the folds task by task, a run of identical folds at a time (never per cycle),
and the memory system below decides when a fold may start:

* **SRAMs** (ifmap, filter, ofmap) are double-buffered: while fold *i* computes, the operands
  of fold *i + 1* are fetched into the other half.
* **Reuse**: when a layer's whole input feature map (every image of its batch; the rows and
  columns it reads, where its stride is longer than its kernel) fits in half of the ifmap SRAM
  it is fetched once; otherwise every fold
  fetches its share of it:
  its im2col tile divided by the layer's im2col duplication factor ``kh·kw / stride²`` (at
  least 1), the average number of windows that read one input. Filters likewise: fetched once
  when they fit in half of the filter SRAM, else every fold fetches its weight tile. Folds are
  issued with an inner loop along the output pixels where they lie on the array (OS, IS),
  else along the output channels (WS); the operand that loop does not walk (the weights, or
  for WS the inputs) is fetched once per sweep of the inner loop when its tile fits in half
  of its SRAM — on a sliced array, when the tiles of all P slices in flight fit there together
  (each slice keeps its own).
* **DRAM** is one channel: a transfer of b bytes holds it for ⌈b / bandwidth⌉ cycles and
  its data arrive ``dram_latency_cycles`` after it ends. Fold *k + 1*'s transfer is issued as
  fold *k* starts (the other half of its buffers is then free).
* **Streamed bytes**: what is fetched once (operands that stay on chip) and the layer's
  output feature map move with the folds, an equal share per fold after its own fetch: they
  need the DRAM's bandwidth but not its latency, since the SRAM that holds them lets them
  be fetched ahead, or written as folds finish. Only the layer's first fold, which follows
  nothing, waits for its whole share and the latency; the last fold's share of the outputs
  is written after it.
* **Layers** follow one another: the next layer, which reads this one's outputs, starts when
  they are written (on a whole cycle, with the array and the DRAM idle). Each layer is timed
  in its own frame, from cycle 0, so its cycles depend on its own plan alone, to the last bit,
  whatever ran before it: the property a per-layer choice between two plans needs to be exact.
* **Partial sums between the passes** of a gated layer stay in the ofmap SRAM when they fit
  in half of it (on a sliced array, those of one window of pixels at a time); otherwise they
  go to DRAM and each conditional output tile reads its share back once. Decision bits (one
  per output) are written to and read from SRAM.

**Timing.** Every layer is timed by the slice machine (:mod:`accelsim.arch.machine`): one
array is its P = 1 case, a slice taking the plan's runs in order as tasks
(:attr:`~accelsim.schedule.plan.LayerPlan.array_tasks`: the layer's first fold alone, then a
task per run; a conditional pass waits for the decisions of the work before it, and the gate
latency). A sliced plan's tasks go to its P slices through the task queue. Each task's
transfer queues on the DRAM channel (:class:`~accelsim.arch.memory.DramChannel`, first come
first served) as its slice takes it, when the slice's last fold starts; fold *k + 1* with own
fetch o = ⌈own bytes / bandwidth⌉ and whole share m cycles starts no sooner than
``max(m, o + latency)`` after fold *k* (m without a fetch of its own;
:func:`accelsim.arch.memory.fold_pace`), nor before the controller's rule lets it; the
outputs of each slice's last fold are written at the end. With unbounded bandwidth this is
the plan's stall-free cycles (for one array, the plan's closed form; tested equal). The
cycles beyond those are the stall cycles. ``accelsim.reference.slices`` (pipelined) and
``accelsim.reference.memory`` (each fold alone) step the same slices and channel cycle by
cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import simpy

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.machine import QueueMachine
from accelsim.arch.memory import DramChannel, SramPorts
from accelsim.arch.timing import get_timing
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
    cycles_stall: int  #: cycles the array waited for operands (DRAM and SRAM ports)
    traffic: dict[str, int] = field(default_factory=dict)  #: bytes per TRAFFIC_FIELDS entry
    cycles_sram: int = 0  #: of ``cycles_stall``, what the SRAM ports alone cost (streams stretched)

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


@dataclass(frozen=True)
class LayerTraffic:
    """What one layer moves: DRAM fetch per fold of each run, what is fetched once (operands
    that stay on chip), what is written (outputs, spilled partial sums), and the byte counters."""

    per_fold: np.ndarray
    once: float
    written: float
    counters: dict[str, int]

    def streamed(self, folds: int) -> tuple[float, float]:
        """Bytes of resident operands and of outputs that each of the layer's ``folds`` moves
        beside its own fetch: they stream with the folds, an equal share each."""
        return (self.once / folds, self.written / folds) if folds else (0.0, 0.0)


def layer_traffic(plan: LayerPlan, config: HardwareConfig) -> LayerTraffic:
    layer, runs = plan.layer, plan.runs
    tiles = _fold_bytes(plan, config)
    operand, accumulator = config.operand_bits / 8, config.accumulator_bits / 8
    half = {buffer: getattr(config, f"{buffer}_sram_kib") * 1024 / 2 for buffer in ("ifmap", "filter", "ofmap")}
    # the inputs the layer reads at all: a stride longer than the kernel skips rows and columns
    read_h = min(layer.in_h, layer.out_h * min(layer.kernel_h, layer.stride))
    read_w = min(layer.in_w, layer.out_w * min(layer.kernel_w, layer.stride))
    ifmap_bytes = layer.batch * layer.in_channels * read_h * read_w * operand
    filter_bytes = layer.N * layer.K * operand
    ifmap_resident, filter_resident = ifmap_bytes <= half["ifmap"], filter_bytes <= half["filter"]
    conditional = runs["phase"] == PHASE_CONDITIONAL
    gated = bool((runs["phase"] == PHASE_BASE).any())
    # base partial sums wait for the conditional pass in the ofmap SRAM, or in DRAM if they
    # do not fit; each conditional output tile reads them back once (not once per K slice)
    held = plan.sliced.held_outputs if plan.sliced is not None else layer.M * layer.N
    spill = bool(conditional.any()) and held * accumulator > half["ofmap"]
    duplication = max(1.0, layer.kernel_h * layer.kernel_w / layer.stride ** 2)
    inputs, weights = tiles.inputs / duplication, tiles.weights.astype(np.float64)
    # the operand the inner loop does not walk is fetched once per sweep when its tile fits,
    # beside those of the other slices in flight (each keeps its own)
    sweep, in_flight = runs["inner_folds"], config.array_slices if plan.sliced is not None else 1
    if inner_dim(config.dataflow) == "M":
        weights = np.where(weights * in_flight <= half["filter"], weights / sweep, weights)
    else:
        inputs = np.where(inputs * in_flight <= half["ifmap"], inputs / sweep, inputs)
    input_fetch = np.where(ifmap_resident, 0, inputs)
    weight_fetch = np.where(filter_resident, 0, weights)
    psum_fetch = np.where(conditional & spill, tiles.outputs * accumulator / runs["reduction_folds"], 0)
    per_fold = input_fetch + weight_fetch + psum_fetch
    once = (ifmap_bytes if ifmap_resident else 0) + (filter_bytes if filter_resident else 0)
    written = layer.M * layer.N * (operand + (accumulator if spill else 0))
    counts = runs["count"]
    output_elements = float((counts * tiles.outputs).sum())
    written_once = sum(len(item.pixels) * len(item.channels) for item in plan.items
                       if item.phase != PHASE_CONDITIONAL) or layer.M * layer.N
    # outputs added onto partial sums already stored: further slices of the reduction
    # (WS, IS) and every conditional result (onto its base partial sum)
    accumulated = output_elements - written_once

    def total(values: np.ndarray) -> float:
        return float((counts * values).sum())

    return LayerTraffic(per_fold, once, written, {
        "dram_read_bytes": int(round(total(per_fold) + once)),
        "dram_write_bytes": int(round(written)),
        "ifmap_sram_read_bytes": int(round(total(tiles.inputs))),
        "ifmap_sram_write_bytes": int(round(total(input_fetch) + (ifmap_bytes if ifmap_resident else 0))),
        "filter_sram_read_bytes": int(round(total(tiles.weights))),
        "filter_sram_write_bytes": int(round(total(weight_fetch) + (filter_bytes if filter_resident else 0))),
        "ofmap_sram_read_bytes": int(round(accumulated * accumulator)),
        "ofmap_sram_write_bytes": int(round(output_elements * accumulator)),
        "decision_sram_bytes": 2 * math.ceil(layer.M * layer.N / 8) if gated else 0,
    })


def task_fetches(phases: Sequence[Sequence], per_fold: np.ndarray, counts: np.ndarray) -> list[list[float]]:
    """Per phase and task, the bytes its folds fetch for themselves: the tasks take the plan's
    folds in order, ``per_fold[r]`` bytes each in run ``r`` of ``counts[r]`` folds."""
    counts, per_fold = counts.tolist(), per_fold.tolist()
    run, left, fetches = -1, 0, []
    for tasks in phases:
        fetches.append([])
        for task in tasks:
            need, total = task.fold_count, 0.0
            while need:
                while not left:
                    run += 1
                    left = counts[run]
                take = min(need, left)
                total += take * per_fold[run]
                need, left = need - take, left - take
            fetches[-1].append(total)
    return fetches


@lru_cache(maxsize=16)
def one_array(config: HardwareConfig) -> HardwareConfig:
    """The config's array as the slice machine's one slice, taking its tasks in order."""
    return config.replace(array_slices=1, slice_rows=0, queue_depth_tasks=1, dispatch="in-order",
                          dispatch_latency_cycles=0, task_generation_cycles=0, queue_refill_cycles=0)


def _machine(plan: LayerPlan, config: HardwareConfig) -> HardwareConfig:
    """The slice machine a plan runs on: the config's P slices, or one array's one slice."""
    return config if plan.sliced is not None else one_array(config)


@lru_cache(maxsize=16)
def _sram_ports(config: HardwareConfig) -> SramPorts | None:
    return SramPorts.of(config)


def _layer_cycles(plan: LayerPlan, traffic: LayerTraffic, config: HardwareConfig, stall_free: int,
                  dram_limited: bool = True) -> float:
    """A plan's cycles in its own frame: each phase's tasks on the slice machine (one array:
    its one slice, :attr:`LayerPlan.array_tasks`) at the SRAM ports, with what the layer
    streams from DRAM shared among them (not with ``dram_limited`` False), then the last
    share of its outputs; ``stall_free`` is the plan's cycles."""
    machine = _machine(plan, config)
    if plan.sliced is None:
        phases, makespans = (plan.array_tasks,), (stall_free - get_timing(config.timing).layer_offset_cycles,)
    else:
        phases, makespans = plan.sliced.phases, plan.sliced.makespans
    bandwidth, ports = config.dram_bandwidth_bytes_per_cycle, _sram_ports(machine)
    dram = None if math.isinf(bandwidth) or not dram_limited else DramChannel(bandwidth, config.dram_latency_cycles)
    reads, writes = traffic.streamed(plan.folds)
    fetches = task_fetches(phases, traffic.per_fold, plan.runs["count"]) if dram is not None else None
    now, owed = 0, 0.0  # owed: the outputs of each slice's last fold, written at the end
    for number, (tasks, makespan) in enumerate(zip(phases, makespans)):
        if ports is None and (dram is None or not any(fetches[number]) and not (reads + writes)):
            now += makespan  # nothing waits for memory: the machine's run with an ideal memory
            continue
        if dram is None:
            done = QueueMachine(tasks, machine, now, ports=ports).run()
        else:
            streams = [(reads + writes) * task.fold_count for task in tasks]
            done = QueueMachine(tasks, machine, now, dram, fetches[number], streams, writes, ports).run()
        now += done.makespan
        owed += writes * done.slices_used
    if dram is not None:  # the last folds' outputs leave at the end, after what is queued
        cycles = dram.cycles(owed)
        now = dram.begin(now, cycles) + cycles
    return now + get_timing(config.timing).layer_offset_cycles  # the offset, once, at the end


def _array_process(env: simpy.Environment, plans: Sequence[LayerPlan], config: HardwareConfig,
                   timeline: list[LayerTiming]):
    for plan in plans:
        begin = round(env.now)  # layers start on whole cycles
        # the next layer reads this one's outputs: it starts once they are written, with the
        # array and the DRAM idle. Each layer is timed in its own frame, from 0, so that its
        # cycles depend on its plan alone, to the last bit, wherever it starts
        traffic = layer_traffic(plan, config)
        # never less than the stall-free closed form: the layer's cycles and where the next
        # layer starts agree even if a stalled schedule were to finish sooner
        stall_free = plan.cycles
        elapsed = max(math.ceil(_layer_cycles(plan, traffic, config, stall_free) - 1e-9), stall_free)
        sram = 0
        if _sram_ports(_machine(plan, config)) is not None:
            # what the SRAM ports alone cost: the same machine with an ideal DRAM
            alone = math.ceil(_layer_cycles(plan, traffic, config, stall_free, dram_limited=False) - 1e-9)
            sram = min(max(0, alone - stall_free), elapsed - stall_free)
        yield env.timeout(max(0.0, begin + elapsed - env.now))
        timeline.append(LayerTiming(plan.layer.name, begin, stall_free, elapsed - stall_free, traffic.counters, sram))


def simulate(plans: Sequence[LayerPlan], config: HardwareConfig) -> list[LayerTiming]:
    """Run the plans in order on one array and its memory; one :class:`LayerTiming` per plan."""
    env = simpy.Environment()
    timeline: list[LayerTiming] = []
    env.process(_array_process(env, plans, config, timeline))
    env.run()
    return timeline
