"""The slice machine: P slices of the array fed by a task queue, timed against a memory.

This is the one place where the controller rule, the queue and the dispatch are written
(:class:`QueueMachine`): with an ideal memory it gives the stall-free cycles a plan needs
(:func:`dispatch`); with a :class:`~accelsim.arch.memory.DramChannel` the engine's timing of a
sliced layer, the slices' transfers queued on the channel. The controller rule is
:class:`SliceClock`, what a task waits for :class:`TaskWaits`, which task a slice takes
:meth:`QueueMachine._choose` with :func:`priorities`.

Tasks are read through a few attributes (``folds``, ``periods``, ``after``, ``window``;
:class:`accelsim.schedule.plan.Task`), so the machine depends on no scheduler.

**The queue.** Tasks enter a queue of ``queue_depth_tasks`` entries in task order. A task
waits for the task its set's decisions come from (``after``: its last result and
``gate_latency_cycles``) and a base task of window w ≥ 2 for the last result of window w − 2;
it is handed out only after those tasks have been; the k-th conditional task of a set waits
k × ``task_generation_cycles`` more, for the gate unit to write it. The queue holds the
phase's first tasks when the phase starts; each entry freed by a take is refilled with the next
task no sooner than ``queue_refill_cycles`` after the last one entered, and a task waits for
its entry. Whenever a slice can take a task (when
the last fold it holds starts, freeing the other half of its operand buffers; among equals,
one that holds no task yet, then the lowest index) it takes, among the tasks that may be
handed out, one whose wait is over first, then the oldest (``in-order``) or the one with the
most stall-free cycles, a base task counting its longest conditional task's besides
(``longest-first``). The task's first fold starts no sooner than ``dispatch_latency_cycles``
after the slice took it.

**Memory.** A task's transfer (its own fetch, and its share of what the layer streams) is
asked of the DRAM when the slice takes it; the channel serves transfers in the order they
are asked for (in one cycle, in the order the slices take), each holding it for its bytes in
whole cycles. Its first fold starts
:func:`~accelsim.arch.memory.fold_pace` after the channel begins it (on a slice's first task,
which follows no fold of its own: the whole share and the latency); each later fold at
least that long after the one before. With SRAM ports (:class:`~accelsim.arch.memory.SramPorts`),
each fold streams, and loads its tile, for as long as the slice's share of the ports needs.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.memory import DramChannel, SramPorts, fold_pace
from accelsim.arch.timing import fold_cycles, get_timing


class SliceClock:
    """When one slice's folds start and end, fold by fold, under its controller's rule.

    ``pipelined`` (see ``docs/timing.md``): OS starts fold j + 1 at ``s + T + max(0, R − T')``;
    WS/IS load its tile at ``L' = max(L + R, s)`` and stream it at ``max(s + T, L' + R)``. A
    fold never starts before its operands are ``ready``. Other timings run each fold alone,
    one after another. :attr:`take` is when the slice takes its next task: when its last fold
    starts, which frees the other half of its operand buffers; :attr:`free` when the last fold
    has streamed its last step; :attr:`end` when its last result has left.
    """

    def __init__(self, config, start: float = 0.0, count_waits: bool = True) -> None:
        self.rows, self.cols, self.dataflow, self.timing, self.pipelined, self.stationary = _slice_shape(config)
        self.origin = start
        self.start = self.load = self.steps = None  # the last fold's: none yet
        self.loading = self.rows  # cycles the last fold's tile took to load (WS/IS)
        self.free = self.end = start
        self.count_waits = count_waits
        self.waited = 0.0  # cycles the first folds of tasks waited for ``ready`` alone (if counted)

    @property
    def take(self) -> float:
        return self.origin if self.start is None else self.start

    def issue(self, count: int, steps: int, ready: float = 0.0, pace: float = 0.0, load: int = 0) -> None:
        """``count`` identical folds of ``steps`` steps, the first not before ``ready``; with a
        ``pace``, each starts at least that long after the fold before it (operands that
        arrive one fold at a time); WS/IS load each tile in ``load`` cycles (at least R)."""
        if count <= 0:
            return
        load = max(load, self.rows)
        tile, first = self._first(steps, ready, pace, load)
        if self.count_waits and ready > self.origin:  # what waiting cost, beside the controller's rule
            self.waited += first - self._first(steps, self.origin, pace, load)[1]
        if not self.pipelined:
            cycles = int(fold_cycles(self.dataflow, self.rows, self.cols, steps, self.timing))
            if self.stationary:
                cycles += load - self.rows
            self.start, self.steps = first + (count - 1) * max(cycles, pace), steps
            self.free = self.end = self.start + cycles
            return
        period = max(steps, load, pace)
        if self.stationary:  # later folds of the run: each tile loads as its predecessor streams
            self.load = tile if count == 1 else first + (count - 2) * period
            self.loading = load
        self.start, self.steps = first + (count - 1) * period, steps
        self.free = self.start + steps
        self.end = self.free + self.rows + self.cols - (2 if self.stationary else 1)

    def issue_task(self, folds: Sequence[tuple[int, ...]], ready: float, pace: float = 0.0) -> None:
        """A task's folds, ``(count, steps)`` or ``(count, steps, load cycles)`` run by run, the
        first not before ``ready``."""
        fold = folds[0]
        count, steps, load = fold[0], fold[1], (fold[2] if len(fold) > 2 else 0)
        self.issue(1, steps, ready, 0.0, load)
        if count > 1:
            self.issue(count - 1, steps, 0.0, pace, load)
        for fold in folds[1:]:
            self.issue(fold[0], fold[1], 0.0, pace, fold[2] if len(fold) > 2 else 0)

    def _first(self, steps: int, ready: float, pace: float, load: int) -> tuple[float | None, float]:
        """When the next fold of ``steps`` steps loads its tile (WS/IS, in ``load`` cycles) and starts."""
        after = -np.inf if self.start is None else self.start + pace
        if not self.pipelined:
            return None, max(self.end, ready, after)
        if self.stationary:
            if self.start is None:
                tile = max(self.origin, ready)
                return tile, tile + load
            tile = max(self.load + self.loading, self.start, ready)
            return tile, max(self.start + self.steps, tile + load, after)
        if self.start is None:
            return None, max(self.origin, ready)
        return None, max(self.start + self.steps + max(0, self.rows - steps), ready, after)


@lru_cache(maxsize=16)
def _slice_shape(config) -> tuple[int, int, str, str, bool, bool]:
    """A slice's rows, columns, dataflow, timing, and whether it is pipelined and stationary."""
    return (config.rows_per_slice, config.slice_cols, config.dataflow, config.timing,
            get_timing(config.timing).pipelined, not get_dataflow(config.dataflow).drains_accumulators)


def priorities(tasks: Sequence) -> list[int]:
    """What ``longest-first`` compares: a task's stall-free cycles, and a base task's the
    longest of the conditional tasks that wait for it besides (the work it holds up)."""
    held_up = [0] * len(tasks)
    for task in tasks:
        if task.after >= 0:
            held_up[task.after] = max(held_up[task.after], task.periods)
    return [task.periods + more for task, more in zip(tasks, held_up)]


class TaskWaits:
    """What the tasks of a phase wait for: a conditional task for its set's base task's last
    result, the gate latency and its turn at the gate unit (the k-th of its set k ×
    ``generation`` cycles); a base task of window w ≥ 2 for the last result of window w − 2,
    whose half of the ofmap SRAM its partial sums take; every task for its entry into the queue
    (:attr:`entered`, set as the queue refills)."""

    def __init__(self, tasks: Sequence, gate: int, generation: int = 0) -> None:
        self.gate = gate
        self.after = [task.after for task in tasks]
        self.window = [task.window for task in tasks]
        made: dict[int, int] = {}  # conditional tasks of each base task written so far
        self.generated = [0] * len(tasks)  # per task: cycles its generation adds after the gate
        for index, after in enumerate(self.after):
            if after >= 0:
                made[after] = made.get(after, 0) + 1
                self.generated[index] = made[after] * generation
        self.entered = [0.0] * len(tasks)  # per task: when it entered the queue
        #: per task, the window whose end it waits for, or −1
        self.freed = [task.window - 2 if task.after < 0 and task.window >= 2 else -1 for task in tasks]
        #: per task, whether it waits for nothing but its entry into the queue
        self.free = [after < 0 and freed < 0 for after, freed in zip(self.after, self.freed)]
        self.ends = [0.0] * len(tasks)
        self.taken = [False] * len(tasks)
        self.left = [0] * (max(self.window, default=0) + 1)  # tasks of each window not yet taken
        for window in self.window:
            self.left[window] += 1
        self.window_end = [0.0] * len(self.left)

    def eligible(self, index: int) -> bool:
        after, freed = self.after[index], self.freed[index]
        return (after < 0 or self.taken[after]) and (freed < 0 or not self.left[freed])

    def take(self, index: int) -> None:
        self.taken[index] = True
        self.left[self.window[index]] -= 1

    def ready(self, index: int) -> float:
        """When the task's first fold may start at the earliest (all it waits for handed out)."""
        after, freed = self.after[index], self.freed[index]
        decided = self.ends[after] + self.gate + self.generated[index] if after >= 0 else 0.0
        decided = max(decided, self.entered[index])
        return max(decided, self.window_end[freed]) if freed >= 0 else decided

    def ended(self, index: int, end: float) -> None:
        self.ends[index] = end
        window = self.window[index]
        if end > self.window_end[window]:
            self.window_end[window] = end


@dataclass
class Dispatch:
    """Which slice took which tasks, and when each slice finished."""

    assignment: list[list[int]]  #: per slice, indices of the phase's tasks in the order taken
    clocks: list[SliceClock]

    @property
    def makespan(self) -> float:
        """From the phase's start to the last slice's last result."""
        return max(clock.end for clock in self.clocks) - self.clocks[0].origin

    @property
    def slices_used(self) -> int:
        return sum(bool(taken) for taken in self.assignment)


class QueueMachine:
    """One phase of tasks on the config's slices (module doc): :meth:`run`.

    ``dram`` is the channel the tasks' transfers wait for (None: ideal memory); per task,
    ``fetches`` are the bytes it fetches for itself and ``streams`` its share of what the
    layer streams, of which ``written`` per fold are outputs: a slice's first task carries
    none (it follows no fold of its own). ``start`` is the phase's first cycle.
    """

    def __init__(self, tasks: Sequence, config, start: float = 0.0, dram: DramChannel | None = None,
                 fetches: Sequence[float] | None = None, streams: Sequence[float] | None = None,
                 written: float = 0.0, ports: SramPorts | None = None) -> None:
        self.tasks, self.config, self.dram, self.start = tasks, config, dram, start
        self.ports = ports
        self._streamed: dict[tuple, tuple[tuple[int, int], ...]] = {}
        self.fetches = fetches if fetches is not None else [0.0] * len(tasks)
        self.streams = streams if streams is not None else [0.0] * len(tasks)
        self.written = written
        # waits for the DRAM are stalls, not what the plan's attribution counts
        self.clocks = [SliceClock(config, start, dram is None) for _ in range(config.array_slices)]
        self.waits = TaskWaits(tasks, config.gate_latency_cycles, config.task_generation_cycles)
        self.latency, self.refill = config.dispatch_latency_cycles, config.queue_refill_cycles
        self._paced: dict[tuple, tuple[int, int, int]] = {}

    def run(self) -> Dispatch:
        """The dispatcher: slices take tasks in the order they can (when, whether they hold
        one yet, index), each task's transfer asked of the channel as it is taken."""
        tasks, clocks, waits = self.tasks, self.clocks, self.waits
        if len(clocks) == 1 and self.config.queue_depth_tasks == 1:  # one array: its tasks in order
            last_entry = self.start
            for chosen in range(len(tasks)):
                now = clocks[0].take
                waits.take(chosen)
                if chosen + 1 < len(tasks):  # the next task enters the freed entry
                    last_entry = waits.entered[chosen + 1] = max(now, last_entry + self.refill)
                self._place(0, chosen, now)
            return Dispatch([list(range(len(tasks)))], clocks)
        assignment: list[list[int]] = [[] for _ in clocks]
        available = [(self.start, 0, index) for index in range(len(clocks))]
        lengths = priorities(tasks) if self.config.dispatch == "longest-first" else None
        window = list(range(min(self.config.queue_depth_tasks, len(tasks))))
        pending, entered, refill = len(window), waits.entered, self.refill
        for task in window:
            entered[task] = self.start
        last_entry = self.start
        while window:
            now, _, index = heapq.heappop(available)
            chosen = window.pop(self._choose(window, lengths, now))
            waits.take(chosen)
            assignment[index].append(chosen)
            if pending < len(tasks):  # the freed entry takes the next task, one per refill period
                last_entry = entered[pending] = max(now, last_entry + refill)
                window.append(pending)
                pending += 1
            self._place(index, chosen, now)
            heapq.heappush(available, (clocks[index].take, 1, index))
        return Dispatch(assignment, clocks)

    def _choose(self, window: list[int], lengths: Sequence[int] | None, now: float) -> int:
        """Position in the queue ``window`` (task indices, oldest first) of the task to hand
        out at ``now``: the oldest (``in-order``) or the first of the longest
        (``longest-first``) among those whose base task and earlier window have been handed
        out (the oldest queued task always qualifies), those whose wait is over first."""
        waits = self.waits
        free, after_of, freed_of, taken, left = waits.free, waits.after, waits.freed, waits.taken, waits.left
        ends, window_end, gate, generated, entered = (waits.ends, waits.window_end, waits.gate, waits.generated,
                                                      waits.entered)
        # inlined, a loop per policy: this is the machine's hot path
        if lengths is None:
            first = None  # the oldest eligible, if none is ready
            for position, task in enumerate(window):
                if free[task] and entered[task] <= now:
                    return position  # the oldest ready: nothing later ranks higher
                after, freed = after_of[task], freed_of[task]
                if after >= 0 and not taken[after] or freed >= 0 and left[freed]:
                    continue  # not eligible
                if (entered[task] <= now and (after < 0 or ends[after] + gate + generated[task] <= now)
                        and (freed < 0 or window_end[freed] <= now)):
                    return position
                if first is None:
                    first = position
            return first if first is not None else 0
        best, best_ready, best_length = 0, False, -1
        for position, task in enumerate(window):
            length = lengths[task]
            if free[task] and entered[task] <= now:
                if not best_ready or length > best_length:  # the oldest wins ties
                    best, best_ready, best_length = position, True, length
                continue
            if best_ready and length <= best_length:
                continue  # cannot rank higher, ready or not
            after, freed = after_of[task], freed_of[task]
            if after >= 0 and not taken[after] or freed >= 0 and left[freed]:
                continue  # not eligible
            if (entered[task] <= now and (after < 0 or ends[after] + gate + generated[task] <= now)
                    and (freed < 0 or window_end[freed] <= now)):
                best, best_ready, best_length = position, True, length
            elif not best_ready and length > best_length:
                best, best_length = position, length
        return best

    def _place(self, index: int, chosen: int, now: float) -> None:
        """Put the task's folds on the slice's clock, after its transfer (module doc)."""
        clock, task = self.clocks[index], self.tasks[chosen]
        earliest, pace = max(self.waits.ready(chosen), now + self.latency), 0
        dram, fetch = self.dram, self.fetches[chosen]
        first = clock.start is None  # the slice's first task follows no fold of its own
        total = fetch + self.streams[chosen] - (self.written if first else 0.0)
        if dram is not None and total > 0:
            folds = task.fold_count
            key = (fetch, total, folds, first)
            paced = self._paced.get(key)
            if paced is None:  # few byte signatures per phase: their cycles are worked out once
                # the folds are paced by their shares in whole cycles, as each fold of one array is
                cycles_of, latency = dram.cycles, dram.latency
                own, moved = cycles_of(fetch / folds), cycles_of(total / folds)
                pace = fold_pace(own, moved, latency)
                # one transfer: its bytes in whole cycles, not each fold's share
                paced = self._paced[key] = cycles_of(total), pace, (moved + latency if first else pace)
            cycles, pace, arrive = paced
            earliest = max(earliest, dram.begin(now, cycles) + arrive)
        clock.issue_task(task.folds if self.ports is None else self._stream(task), earliest, pace)
        self.waits.ended(chosen, clock.end)

    def _stream(self, task) -> tuple[tuple[int, int, int], ...]:
        """The task's ``(count, cycles its stream takes, cycles its tile takes to load)`` at the
        slice's share of the SRAM ports."""
        key = (task.folds, task.lanes)
        folds = self._streamed.get(key)
        if folds is None:
            ports, rows_per_slice = self.ports, self.clocks[0].rows
            folds = self._streamed[key] = tuple(
                (count, ports.steps(length, rows, cols), ports.load(rows_per_slice, rows, cols))
                for (count, length), (rows, cols) in zip(task.folds, task.lanes))
        return folds


def dispatch(tasks: Sequence, config, start: float = 0.0) -> Dispatch:
    """The tasks of one phase on the config's slices with an ideal memory: the stall-free
    timing of :class:`QueueMachine`."""
    return QueueMachine(tasks, config, start).run()
