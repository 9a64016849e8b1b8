"""Per-cycle reference of a sliced array fed by a task queue.

The array is P independent slices (``array_slices``), each a ``rows_per_slice`` ×
``slice_cols`` array with its own input stream. A sliced plan (:class:`accelsim.schedule.taskqueue.SlicedWork`)
runs phase by phase (base tasks, then, ``gate_latency_cycles`` later, conditional tasks,
beside the next window's base tasks where the layer runs in windows); in each phase its tasks
enter a queue of ``queue_depth_tasks`` entries in task order, and whenever a slice can take
one it takes the oldest queued (``in-order``) or the one with the most stall-free cycles
(``longest-first``, the oldest among equals). All slices may take
a task when the phase starts; a slice may take its next one when the last fold it holds
starts (the other half of its operand buffers is then free): ``s``, the fold's start under
the machine's controller rule (:func:`accelsim.arch.sequence.controller_starts`) on the
slice's folds so far, or under the other timings the sum of its earlier folds run alone.
Among slices that may take at the same cycle, one that holds no task yet takes first, then
the lowest index; the queue refills after each take, in task order.

Each slice then runs the folds of its tasks, in the order taken, as one sequence on the
per-cycle sequence machine (:func:`accelsim.arch.sequence.run_sequence`, one slice's shape); the phase
ends when the last slice's machine has finished, and a slice that took nothing costs nothing.
Under the other timing conventions each fold runs alone on the per-fold machine
(:func:`accelsim.arch.reference.simulate_gemm`), one after another on its slice.

Nothing here uses the scheduler's own dispatch or slice clock: this is what checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.reference import simulate_gemm
from accelsim.arch.sequence import controller_starts, gemm_folds, run_sequence
from accelsim.arch.timing import get_timing
from accelsim.schedule.plan import LayerPlan, WorkItem, _apply, _renumbered


def queue_order(lengths: Sequence[int], slices: int, depth: int, policy: str, take_time) -> list[list[int]]:
    """Which tasks each slice takes, in order. ``lengths`` are the tasks' stall-free cycles
    (what ``longest-first`` compares); ``take_time(slice, taken)`` is when the slice may take
    again after taking the tasks ``taken`` (indices, in order), counted from the phase's start."""
    takes = [0] * slices
    taken: list[list[int]] = [[] for _ in range(slices)]
    queue = list(range(min(depth, len(lengths))))
    following = len(queue)
    while queue:
        earliest = min(takes)
        # among the slices that can take first: one that holds no task yet, then the lowest index
        index = min((i for i in range(slices) if takes[i] == earliest), key=lambda i: (bool(taken[i]), i))
        if policy == "in-order":
            position = 0
        elif policy == "longest-first":
            position = 0
            for candidate in range(1, len(queue)):
                if lengths[queue[candidate]] > lengths[queue[position]]:  # strictly: the oldest wins ties
                    position = candidate
        else:
            raise ValueError(f"unknown dispatch policy {policy!r}")
        taken[index].append(queue.pop(position))
        if following < len(lengths):
            queue.append(following)
            following += 1
        takes[index] = take_time(index, taken[index])
        if takes[index] < earliest:
            raise AssertionError("a slice could take again before it took its task")
    return taken


def execute_sliced_on_reference(plan: LayerPlan, a: np.ndarray, w: np.ndarray, decisions: np.ndarray | None,
                                config) -> tuple[np.ndarray, int, int]:
    """Run a sliced plan's tasks on P per-cycle slices of ``config``'s array (module doc).

    ``a`` is M×K, ``w`` K×N, ``decisions`` M×N. Base items write their results, conditional
    items add theirs only where the gate is on. Returns the M×N output, the layer's cycles
    (Σ phase ends + the gate latency between phases + the convention's layer offset) and the
    MACs performed on real operands.
    """
    work = plan.sliced
    rows, width, slices = config.rows_per_slice, config.slice_cols, config.array_slices
    dataflow, timing = config.dataflow, get_timing(config.timing)
    uncounted_drain = rows if get_dataflow(dataflow).drains_accumulators and not timing.counts_accumulator_drain else 0
    output = np.zeros((a.shape[0], w.shape[1]), dtype=np.result_type(a, w, np.int64))
    phases = [phase for phase in work.phases if phase]
    cycles = timing.layer_offset_cycles + config.gate_latency_cycles * max(0, len(phases) - 1)
    executed = 0
    for tasks in phases:
        items: list[WorkItem] = [task.item for task in tasks]
        operands = [(a[np.ix_(item.pixels, item.k_index)], w[np.ix_(item.k_index, item.channels)])
                    for item in items]
        if timing.pipelined:
            folds = [gemm_folds(sub_a, sub_w, dataflow, rows, width) for sub_a, sub_w in operands]
            steps = [[fold.second.shape[0] for fold in item_folds] for item_folds in folds]
            lengths = [sum(max(t, rows) for t in item_steps) for item_steps in steps]

            def take_time(index: int, taken: list[int], steps=steps) -> int:
                sequence = [t for task in taken for t in steps[task]]
                return controller_starts(dataflow, sequence, rows, width)[-1]

            assignment = queue_order(lengths, slices, config.queue_depth_tasks, config.dispatch, take_time)
            ends = []
            for taken in assignment:
                if not taken:
                    continue
                sequence, spans, offset = [], [], 0
                for task in taken:
                    sequence += [_renumbered(fold, offset) for fold in folds[task]]
                    spans.append((task, offset))
                    offset += len(items[task].pixels) * len(items[task].channels)
                result = run_sequence(sequence, dataflow, rows, width, offset)
                ends.append(result.cycles)
                executed += result.useful_macs
                for task, start in spans:
                    shape = (len(items[task].pixels), len(items[task].channels))
                    block = (result.base + result.conditional)[start:start + shape[0] * shape[1]].reshape(shape)
                    _apply(output, items[task], block, decisions)
            cycles += max(ends, default=0)
            continue
        # each fold alone, one after another on its slice
        alone = [simulate_gemm(sub_a, sub_w, dataflow, rows, width) for sub_a, sub_w in operands]
        lengths = [result.cycles - uncounted_drain * result.folds for result in alone]
        last_fold = [simulate_gemm(*_last_tile(sub_a, sub_w, dataflow, rows, width), dataflow, rows, width)
                     for sub_a, sub_w in operands]
        lasts = [result.cycles - uncounted_drain for result in last_fold]
        assignment = queue_order(lengths, slices, config.queue_depth_tasks, config.dispatch,
                                 lambda index, taken: sum(lengths[task] for task in taken) - lasts[taken[-1]])
        cycles += max((sum(lengths[task] for task in taken) for taken in assignment), default=0)
        for item, result in zip(items, alone):
            executed += result.useful_macs
            _apply(output, item, result.output, decisions)
    return output, cycles, executed


def _last_tile(a: np.ndarray, w: np.ndarray, dataflow, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The operands of the last fold of ``a @ w`` on an R × C array (the last column tile's last
    row tile, the order in which folds are issued), as a GEMM of its own."""
    flow = get_dataflow(dataflow)
    keep = {"M": slice(None), "N": slice(None), "K": slice(None)}
    extent = {"M": a.shape[0], "N": w.shape[1], "K": a.shape[1]}
    for dim, side in ((flow.rows_dim, rows), (flow.cols_dim, cols)):
        keep[dim] = slice((extent[dim] - 1) // side * side, extent[dim])
    return a[keep["M"], keep["K"]], w[keep["K"], keep["N"]]
