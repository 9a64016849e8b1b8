"""The ``task-queue`` scheduler: a gated layer's work cut into tasks that a queue hands to
whichever slice of a sliced array can take one.

The array is split into P slices (``array_slices``) of ``rows_per_slice`` × ``slice_cols`` PEs
(``C / P`` columns of all R rows unless ``slice_rows`` cuts the rows into bands), each an
array with its own input port, so each runs its own folds. A gated layer's pixels
run in windows whose base partial sums fit half the ofmap SRAM (one window when the layer's
do, or where refetching its filters per window would cost more DRAM bytes than spilling
them: :meth:`TaskQueueScheduler.windows`). Per window, per gate group:

1. **base**: the base pass of each set of ``slice_cols`` channels over the window's pixels
   (IS: of each set of ``slice_cols`` pixels over the group's channels) is one task;
2. **conditional**: per such set, the conditional pass of the pixels with at least one
   output on in the set (IS: the channels with one on for the set's pixels), cut into tasks
   of at most ``task_folds`` × ``rows_per_slice`` of them (one row tile's worth under OS; all
   of them with ``task_folds = 0``). They start ``gate_latency_cycles`` after their set's
   base task has put out its last result at the earliest.

Tasks enter a queue of ``queue_depth_tasks`` entries in the order of :meth:`TaskQueueScheduler.phases`
(base tasks window by window, each set's conditional tasks two rounds of the slices behind its
base task; a base task of window w ≥ 2 waits for window w − 2, whose ofmap half it takes).
Whenever a slice starts the last fold it holds (the other half of its operand buffers is then
free), or holds none, it takes one, among those whose base task and earlier window have been
handed out, one that may start at once first: the oldest (``in-order``) or the one with the
most stall-free cycles (``longest-first``, a base task counting its longest conditional
task's besides; the oldest among equals). A slice runs the folds it takes back to back as one
pipelined sequence, waiting where a task may not start yet. Ungated layers run on the slices
ganged, as one array (a task cut of whole channel sets over all pixels never beats it); a
layer where two passes would be slower runs in one pass, ganged, as for every skipping
scheduler.

The slices, their controllers and the queue are the slice machine
(:mod:`accelsim.arch.machine`): run with an ideal memory it gives a plan's stall-free cycles
(:func:`~accelsim.arch.machine.dispatch`); the engine runs it against the DRAM.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from accelsim.arch.machine import dispatch
from accelsim.arch.timing import get_timing
from accelsim.config import HardwareConfig
from accelsim.schedule.gated import GatedScheduler, GateGeometry
from accelsim.schedule.plan import (PHASE_BASE, PHASE_CONDITIONAL, RUN_DTYPE, LayerPlan, SlicedWork, Task,
                                    WorkItem, gemm_runs)


@lru_cache(maxsize=64)
def slice_config(config: HardwareConfig) -> HardwareConfig:
    """One slice as an array of its own."""
    return config.replace(array_rows=config.rows_per_slice, array_cols=config.slice_cols, array_slices=1,
                          slice_rows=0)


@lru_cache(maxsize=4096)
def _task_runs(shape: tuple[int, int, int], rows: int, cols: int, dataflow: str, timing: str,
               phase: int) -> tuple[np.ndarray, int, tuple[tuple[int, int], ...], int, tuple[tuple[int, int], ...]]:
    """The folds of a task's GEMM on one slice, their stall-free cycles back to back, their
    ``(count, steps)``, their number and the PEs they use (cached: the tasks of a layer share
    few shapes). The array is read-only."""
    runs = gemm_runs(*shape, rows, cols, dataflow, timing, phase)
    runs.flags.writeable = False
    used = [run for run in runs if run["count"]]
    folds = tuple((int(run["count"]), int(run["time_steps"])) for run in used)
    lanes = tuple((int(run["rows_used"]), int(run["cols_used"])) for run in used)
    return runs, int((runs["count"] * runs["cycles"]).sum()), folds, sum(count for count, _ in folds), lanes


def make_task(item: WorkItem, config: HardwareConfig, after: int = -1, window: int = 0) -> Task:
    runs, periods, folds, fold_count, lanes = _task_runs(item.shape, config.rows_per_slice, config.slice_cols,
                                                         config.dataflow, config.timing, item.phase)
    return Task(item, runs, periods, folds, after, window, fold_count, lanes)


def _stacked_runs(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate(parts)``, fast for many small arrays drawn from a few shared ones (the
    cached folds of each task shape): each distinct array is stacked once, then indexed."""
    if not parts:
        return np.zeros(0, RUN_DTYPE)
    distinct: dict[int, int] = {}
    stacked, offsets, size = [], [], 0
    for part in parts:
        if id(part) not in distinct:
            distinct[id(part)] = size
            stacked.append(part)
            size += len(part)
        offsets.append(distinct[id(part)])
    lengths = np.fromiter((len(part) for part in parts), np.int64, len(parts))
    starts = np.repeat(np.asarray(offsets, np.int64) - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.concatenate(stacked)[starts + np.arange(int(lengths.sum()))]


def sliced_plan(layer, scheduler: str, phases: Sequence[Sequence[WorkItem]], config: HardwareConfig,
                held_outputs: int | None = None, waits: Sequence[Sequence[tuple[int, int]]] | None = None,
                **plan_fields) -> LayerPlan:
    """A plan whose phases of work items run as tasks on the config's slices, one phase after
    another; ``waits`` gives per phase and item the item of the same phase whose decisions it
    needs (−1: none) and its window (:class:`Task`). At most ``held_outputs`` base partial
    sums (default: the layer's outputs) wait in one half of the ofmap SRAM for their
    conditional pass."""
    waits = waits if waits is not None else [[(-1, 0)] * len(items) for items in phases]
    tasks = tuple(tuple(make_task(item, config, *wait) for item, wait in zip(items, item_waits))
                  for items, item_waits in zip(phases, waits) if items)
    makespans, busy = [], 0
    for phase in tasks:
        done = dispatch(phase, config)
        makespans.append(int(done.makespan))
        busy += sum(int(clock.end - clock.origin - clock.waited)
                    for clock, taken in zip(done.clocks, done.assignment) if taken)
    held = layer.M * layer.N if held_outputs is None else held_outputs
    work = SlicedWork(tasks, tuple(makespans), busy, held)
    runs = _stacked_runs([task.runs for phase in tasks for task in phase])
    items = tuple(task.item for phase in tasks for task in phase)
    return LayerPlan(layer, scheduler, runs, get_timing(config.timing).layer_offset_cycles,
                     sum(item.needed_macs for item in items), items, sliced=work, **plan_fields)


LEAD_ROUNDS = 2  #: a set's conditional tasks enter the queue this many rounds of the slices after its base task


class TaskQueueScheduler(GatedScheduler):
    """Gated layers as tasks on independent slices, fed from a queue (see the module doc)."""

    name = "task-queue"

    def windows(self, geometry: GateGeometry) -> list[np.ndarray]:
        """The layer's pixels cut into windows whose base partial sums (every channel's, at
        ``accumulator_bits``) fit half the ofmap SRAM: whole row tiles (IS: column tiles of a
        slice), at least one. One window when the layer's fit, when nothing waits for a
        conditional pass (G = 1), or when windows would move more DRAM bytes than the partial
        sums they keep on chip (written once and read back at most once): where channels lie
        along the columns (OS, WS), filters that do not fit half the filter SRAM are fetched
        again for every window (under IS every pixel set's tasks fetch them anyway)."""
        layer, config = geometry.layer, geometry.config
        pixel_columns = geometry.flow.cols_dim == "M"
        unit = config.slice_cols if pixel_columns else config.rows_per_slice
        accumulator, operand = config.accumulator_bits / 8, config.operand_bits / 8
        held = config.ofmap_sram_kib * 1024 / 2 // (layer.N * accumulator)
        size = layer.M if held >= layer.M else max(unit, int(held) // unit * unit)
        count = -(-layer.M // size)
        filters = layer.N * layer.K * operand
        refetched = 0 if pixel_columns or filters <= config.filter_sram_kib * 1024 / 2 else (count - 1) * filters
        if refetched >= 2 * layer.M * layer.N * accumulator or not len(geometry.conditional_k(0)):
            size = layer.M
        pixels = np.arange(layer.M)
        return [pixels[start:start + size] for start in range(0, layer.M, size)]

    @staticmethod
    def _task_size(config: HardwareConfig, active: int) -> int:
        """Active pixels (IS: active channels) per conditional task: ``task_folds`` row tiles'
        worth, or all ``active`` of them when ``task_folds`` is 0."""
        return config.task_folds * config.rows_per_slice or max(1, active)

    def window_sets(self, geometry: GateGeometry,
                    windows: list[np.ndarray]) -> list[list[tuple[WorkItem, list[WorkItem]]]]:
        """Per window of pixels (contiguous), per set of a gate group's channels (IS: of the
        window's pixels): its base work item and the conditional work items that need its
        decisions, one per task."""
        width = geometry.config.slice_cols
        per_window: list[list[tuple[WorkItem, list[WorkItem]]]] = [[] for _ in windows]
        bounds = [int(window[0]) for window in windows] + [geometry.layer.M]
        for group in range(geometry.groups):
            channels = geometry.group_channels(group)
            k_base, k_conditional = geometry.base_k(group), geometry.conditional_k(group)
            on = geometry.decisions[:, channels]  # the layer's pixels × the group's channels
            if geometry.flow.cols_dim == "M":  # IS: a slice holds pixels; channels stream in time
                for window, sets in zip(windows, per_window):
                    for start in range(0, len(window), width):
                        pixels = window[start:start + width]
                        base = WorkItem(PHASE_BASE, pixels, channels, k_base, len(pixels) * len(channels) * len(k_base))
                        conditional: list[WorkItem] = []
                        sets.append((base, conditional))
                        block = on[pixels]
                        if not len(k_conditional):
                            continue
                        active_channels = np.flatnonzero(block.any(axis=0))
                        size = self._task_size(geometry.config, len(active_channels))
                        for active in (active_channels[at:at + size] for at in range(0, len(active_channels), size)):
                            conditional.append(WorkItem(PHASE_CONDITIONAL, pixels, channels[active], k_conditional,
                                                        int(block[:, active].sum()) * len(k_conditional)))
                continue
            starts = np.arange(0, len(channels), width)
            on_per_set = np.add.reduceat(on.astype(np.int64), starts, axis=1).T  # sets × pixels: outputs on
            for start, counts in zip(starts.tolist(), on_per_set):
                subset = channels[start:start + width]
                active = np.flatnonzero(counts)  # pixels with an output on in the set, ascending
                cuts = np.searchsorted(active, bounds).tolist()
                on_before = np.concatenate([[0], np.cumsum(counts[active])]).tolist()  # outputs on, cumulated
                size = self._task_size(geometry.config, len(active))
                for window, sets, first, last in zip(windows, per_window, cuts, cuts[1:]):
                    conditional = []
                    sets.append((WorkItem(PHASE_BASE, window, subset, k_base, len(window) * len(subset) * len(k_base)),
                                 conditional))
                    if not len(k_conditional):
                        continue
                    for at in range(first, last, size):
                        end = min(at + size, last)
                        conditional.append(WorkItem(PHASE_CONDITIONAL, active[at:end], subset, k_conditional,
                                                    (on_before[end] - on_before[at]) * len(k_conditional)))
        return per_window

    def phases(self, geometry: GateGeometry, windows: list[np.ndarray] | None = None
               ) -> tuple[list[list[WorkItem]], list[list[tuple[int, int]]]]:
        """The layer's tasks in queue order, as one phase, and per task what it waits for:
        ``(after, window)`` as in :class:`Task`.

        Windows follow one another, base tasks set by set; a set's conditional tasks follow
        the base task :meth:`lead` sets after its own (its decisions are usually there by the
        time they are handed out), so that base and conditional tasks share the slices and
        the DRAM, and a window's conditional tasks run beside the next window's base tasks
        (its partial sums take the other half of the ofmap SRAM). A window's conditional
        tasks all precede the base tasks of the window after next, which wait for them."""
        windows = self.windows(geometry) if windows is None else windows
        lead = self.lead(geometry.config)
        items: list[WorkItem] = []
        waits: list[tuple[int, int]] = []
        pending: deque[tuple[int, list[WorkItem], int]] = deque()  # (base position, its tasks, window)

        def emit() -> None:
            position, conditional, number = pending.popleft()
            items.extend(conditional)
            waits.extend([(position, number)] * len(conditional))

        for number, sets in enumerate(self.window_sets(geometry, windows)):
            while pending and pending[0][2] <= number - 2:
                emit()
            for base, conditional in sets:
                pending.append((len(items), conditional, number))
                items.append(base)
                waits.append((-1, number))
                if len(pending) > lead:
                    emit()
        while pending:
            emit()
        return [items], [waits]

    @staticmethod
    def lead(config: HardwareConfig) -> int:
        """How many base tasks separate a set's base task from its conditional tasks in the
        queue: two rounds of the slices."""
        return LEAD_ROUNDS * config.array_slices

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        return [item for phase in self.phases(geometry)[0] for item in phase if item.phase == PHASE_CONDITIONAL]

    def two_pass_plan(self, geometry: GateGeometry) -> LayerPlan:
        windows = self.windows(geometry)
        phases, waits = self.phases(geometry, windows)
        return sliced_plan(geometry.layer, self.name, phases, geometry.config, waits=waits,
                           held_outputs=max(len(window) for window in windows) * geometry.layer.N,
                           gate_on_rate=float(geometry.decisions.mean()), gate_groups=geometry.groups,
                           path="two-pass", granular_macs=self.granular_macs(geometry))

    def granular_macs(self, geometry: GateGeometry) -> int:
        """The granularity bound at the slice's width: what the tasks must run at best."""
        sliced = GateGeometry(geometry.layer, slice_config(geometry.config), geometry.gates)
        return sliced.granular_macs

    def base_pass_cycles(self, geometry: GateGeometry) -> int:
        """The first window's base tasks alone, which the plan runs among others."""
        first = [base for base, _ in self.window_sets(geometry, self.windows(geometry)[:1])[0]]
        return sliced_plan(geometry.layer, self.name, (first,), geometry.config).cycles
