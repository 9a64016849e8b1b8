"""Per-cycle reference of the slices fed by a task queue with a finite DRAM channel: the
check of the slice machine's timing with finite bandwidth, written without it.

The queue, the slices and the controller rule are :mod:`accelsim.reference.sliced`'s
(pipelined timing). The memory, stepped one cycle at a time with the transfers of
:mod:`accelsim.reference.memory`:

* When a slice takes a task it asks the channel for the task's transfer: the bytes the task
  fetches for itself and its folds' shares of what the layer streams, less one fold's share
  of outputs on the slice's first task (which follows no fold of its own). The channel serves
  transfers in the order they are asked for (those of one cycle in the order the slices
  took), moving ``bandwidth`` bytes a cycle; a transfer never shares a cycle with the next.
* Each fold of the task stands for an equal share of the transfer. The *pace* is the first
  cycle at which one fold's share, issued at cycle 0 on a channel of its own, has left the
  channel and its own operands have arrived (``latency`` cycles after they leave); on the
  slice's first task all of the share must have arrived. The task's first fold starts no
  earlier than the pace after the cycle the channel began the transfer, nor before its wait
  is over; each later fold at least the pace after the fold before.
* Phases follow one another; after the last, the outputs of each slice's last fold of every
  phase are written, behind whatever the channel still has queued, and the layer's offset
  ends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import get_timing
from accelsim.reference.controller import controller_starts
from accelsim.reference.folds import gemm_folds
from accelsim.reference.memory import (_Transfer, port_demands, stepped_load_cycles, stepped_stream_cycles,
                                       tile_demand)
from accelsim.reference.sliced import generation_waits, queue_order
from accelsim.schedule.plan import Task


class _SteppedChannel:
    """The channel, first come first served, its transfers stepped byte by byte."""

    def __init__(self, bandwidth: float) -> None:
        self.bandwidth, self.free = bandwidth, 0

    def serve(self, asked: int, size: float) -> int:
        """Begin a transfer of ``size`` bytes asked for at ``asked``; returns when it begins."""
        begin = max(asked, self.free)
        transfer, cycle = _Transfer(size, 0.0), begin
        while size > 0 and transfer.done is None:
            transfer.step(cycle, self.bandwidth, 0)
            cycle += 1
        self.free = transfer.done if size > 0 else begin
        return begin


def _lanes(fold, dataflow: str) -> tuple[int, int]:
    """The rows and columns of PEs a fold holds real data in: OS, the left operand's rows and the
    top operand's columns; WS/IS, the stationary tile's."""
    if dataflow == "os":
        return int(fold.first_real.any(axis=1).sum()), int(fold.second_real.any(axis=0).sum())
    return int(fold.first_real.any(axis=1).sum()), int(fold.first_real.any(axis=0).sum())


def _pace(size: float, needed: float, bandwidth: float, latency: int) -> int:
    """First cycle at which a transfer of ``size`` bytes issued at 0 on a channel of its own
    is ready: all of it left, its first ``needed`` bytes arrived."""
    transfer = _Transfer(size, needed)
    for cycle in count():
        if transfer.ready(cycle):
            return cycle
        transfer.step(cycle, bandwidth, latency)


def stepped_sliced_cycles(phases: Sequence[Sequence[Task]], config, fetches: Sequence[Sequence[float]],
                          streamed: float, written: float) -> int:
    """Cycles of the tasks of a plan's ``phases`` on ``config``'s slices and DRAM (module doc):
    ``fetches[p][i]`` are the bytes task ``i`` of phase ``p`` fetches for itself; each fold
    streams ``streamed`` bytes besides, ``written`` of them outputs. A task with a work item
    is tiled here (:func:`~accelsim.reference.folds.gemm_folds`); one without (one array's
    run, :attr:`~accelsim.schedule.plan.LayerPlan.array_tasks`) streams its folds' steps."""
    if not get_timing(config.timing).pipelined:
        raise ValueError("the sliced DRAM reference runs the pipelined timing")
    rows, width, slices = config.rows_per_slice, config.slice_cols, config.array_slices
    dataflow, gate = config.dataflow, config.gate_latency_cycles
    bandwidth, latency = config.dram_bandwidth_bytes_per_cycle, config.dram_latency_cycles
    drain = rows + width - (1 if get_dataflow(dataflow).drains_accumulators else 2)
    channel = _SteppedChannel(bandwidth)
    origin, owed = 0, 0.0
    for tasks, phase_fetches in zip(phases, fetches):
        # per task: its folds' stream and tile-load cycles; its stall-free length (longest-first)
        steps, loading, lengths = [], [], []
        tile = tile_demand(config)
        for task in tasks:
            item = task.item
            if item is None:
                shapes = [(length, lanes) for (count, length), lanes in zip(task.folds, task.lanes)
                          for _ in range(count)]
                lengths.append(sum(count * max(length, rows) for count, length in task.folds))
            else:
                a = np.zeros((len(item.pixels), len(item.k_index)), dtype=np.int64)
                w = np.zeros((len(item.k_index), len(item.channels)), dtype=np.int64)
                tiles = gemm_folds(a, w, dataflow, rows, width)
                shapes = [(fold.second.shape[0], _lanes(fold, dataflow)) for fold in tiles]
                lengths.append(sum(max(length, rows) for length, _ in shapes))
            steps.append([stepped_stream_cycles(length, port_demands(config, *lanes)) for length, lanes in shapes])
            loading.append([stepped_load_cycles(rows, lanes[0] * lanes[1], tile) for _, lanes in shapes])
        needs = [task.after for task in tasks]
        members: dict[int, list[int]] = {}
        for index, task in enumerate(tasks):
            members.setdefault(task.window, []).append(index)
        freeing = [members[task.window - 2] if task.after < 0 and task.window >= 2 else [] for task in tasks]
        generated = generation_waits(needs, config.task_generation_cycles)
        entered: dict[int, int] = {}  # per task: when it entered the queue, from the phase's start
        # per slice: its folds' steps, earliest starts and gaps; per task: its slice and last fold
        folds = [([], [], [], []) for _ in range(slices)]
        last_fold: dict[int, tuple[int, int]] = {}
        now = [origin] * slices  # when each slice takes next

        def end_of(task: int) -> int:
            index, fold = last_fold[task]
            step_list, earliest, gaps, loads = (values[:fold + 1] for values in folds[index])
            return controller_starts(dataflow, step_list, rows, width, earliest=earliest, gaps=gaps,
                                     loading=loads)[-1] + step_list[-1] + drain

        def ready_time(task: int) -> int:
            decided = end_of(needs[task]) + gate + generated[task] if needs[task] >= 0 else 0
            return max([decided, origin + entered[task]] + [end_of(other) for other in freeing[task]])

        def take_time(index: int, taken: list[int]) -> int:
            task = taken[-1]
            first, share = len(taken) == 1, len(steps[task])
            total = phase_fetches[task] + streamed * share - (written if first else 0.0)
            earliest, gap = max(ready_time(task), origin, now[index] + config.dispatch_latency_cycles), 0
            if total > 0:
                begin = channel.serve(now[index], total)
                own, moved = phase_fetches[task] / share, total / share
                gap = _pace(moved, own, bandwidth, latency)
                earliest = max(earliest, begin + (_pace(moved, moved, bandwidth, latency) if first else gap))
            step_list, earliest_list, gaps, loads = folds[index]
            step_list += steps[task]
            loads += loading[task]
            earliest_list += [earliest] + [0] * (share - 1)
            gaps += [0] + [gap] * (share - 1)
            last_fold[task] = (index, len(step_list) - 1)
            now[index] = controller_starts(dataflow, step_list, rows, width, earliest=earliest_list, gaps=gaps,
                                           loading=loads)[-1]
            return now[index] - origin

        assignment = queue_order(lengths, slices, config.queue_depth_tasks, config.dispatch, take_time,
                                 needs, freeing, lambda task: ready_time(task) - origin, config.queue_refill_cycles,
                                 entered)
        used = [taken for taken in assignment if taken]
        origin = max((end_of(taken[-1]) for taken in used), default=origin)
        owed += written * len(used)
    channel.serve(origin, owed)  # the channel is free once it has written them
    return channel.free + get_timing(config.timing).layer_offset_cycles
