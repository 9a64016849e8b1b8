"""Per-cycle reference of a sliced array fed by a task queue.

The array is P independent slices (``array_slices``), each a ``rows_per_slice`` ×
``slice_cols`` array with its own input stream. A sliced plan (:class:`accelsim.schedule.plan.SlicedWork`)
runs phase by phase; in each phase its tasks enter a queue of ``queue_depth_tasks`` entries
in task order (the first ``queue_depth_tasks`` of them at the phase's start, then one per freed
entry, no sooner than ``queue_refill_cycles`` after the last one entered; a task waits for its
entry). A task waits for the task its set's decisions come from (``Task.after``: it may
start ``gate_latency_cycles`` after that task's last result has left its slice, and the k-th
task of a set k × ``task_generation_cycles`` later, for the gate unit to write it) and a base task
of window w ≥ 2 for every task of window w − 2 (it may start once their last results have
left); it is handed out only after those tasks have been. Whenever a slice can take one it
takes, among the queued tasks that may be handed out, one whose wait is over first, then the
oldest (``in-order``) or the one with the most stall-free cycles, counting for a base task
the longest of the tasks that wait for it besides (``longest-first``, the oldest among
equals). All slices may take a task when the phase starts; a slice may take its next one when
the last fold it holds starts (the other half of its operand buffers is then free): ``s``,
the fold's start under the machine's controller rule
(:func:`accelsim.reference.controller.controller_starts`, folds held back to when their task may
start) on the slice's folds so far, or under the other timings when its earlier tasks, run
fold by fold alone, leave it. A task's last result leaves when the machine run on its slice's
tasks up to it has finished. Among slices that may take at the same cycle, one that holds no
task yet takes first, then the lowest index; the queue refills after each take, in task order.

Each slice then runs the folds of its tasks, in the order taken, as one sequence on the
per-cycle sequence machine (:func:`accelsim.reference.sequence.run_sequence`, one slice's shape); the phase
ends when the last slice's machine has finished, and a slice that took nothing costs nothing.
Under the other timing conventions each fold runs alone on the per-fold machine
(:func:`accelsim.reference.array.simulate_gemm`), one after another on its slice.

Nothing here uses the scheduler's own dispatch or slice clock: this is what checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.reference.array import simulate_gemm
from accelsim.reference.controller import controller_starts
from accelsim.reference.folds import gemm_folds
from accelsim.reference.sequence import run_sequence
from accelsim.arch.timing import get_timing
from accelsim.reference.outputs import apply_result, renumbered
from accelsim.schedule.plan import LayerPlan, WorkItem


def generation_waits(needs: Sequence[int], cycles: int) -> list[int]:
    """Per task, the cycles the gate unit takes to write it after its set's decisions: the
    k-th task that needs a given task waits k × ``cycles``; a task that needs none, 0."""
    waits, seen = [], {}
    for need in needs:
        if need < 0:
            waits.append(0)
        else:
            seen[need] = seen.get(need, 0) + 1
            waits.append(seen[need] * cycles)
    return waits


def queue_order(lengths: Sequence[int], slices: int, depth: int, policy: str, take_time,
                needs: Sequence[int] | None = None, freeing: Sequence[Sequence[int]] | None = None,
                ready_time=None, refill: int = 0, entered: dict[int, int] | None = None) -> list[list[int]]:
    """Which tasks each slice takes, in order. ``lengths`` are the tasks' stall-free cycles
    (``longest-first`` compares them, a base task's plus the longest of those that wait for
    it); ``take_time(slice, taken)`` is when the slice may take
    again after taking the tasks ``taken`` (indices, in order), counted from the phase's start.
    A task is handed out only after the task it waits for (``needs``, −1: none) and the tasks
    whose ofmap half it takes (``freeing``); among those, tasks whose ``ready_time(task)`` has
    come when the slice takes go first. The queue holds its first ``depth`` tasks at the phase's
    start; each take frees an entry, which the next task enters no sooner than ``refill``
    cycles after the last one entered: ``entered`` (filled here) says when each task did, for
    ``ready_time`` to count."""
    needs = [-1] * len(lengths) if needs is None else needs
    freeing = [[] for _ in lengths] if freeing is None else freeing
    handed = set()
    # a base task counts the longest of the tasks that wait for it besides its own cycles
    priority = list(lengths)
    for task, need in enumerate(needs):
        if need >= 0:
            priority[need] = max(priority[need], lengths[need] + lengths[task])

    def eligible(task: int) -> bool:
        return (needs[task] < 0 or needs[task] in handed) and all(other in handed for other in freeing[task])

    takes = [0] * slices
    taken: list[list[int]] = [[] for _ in range(slices)]
    queue = list(range(min(depth, len(lengths))))
    following = len(queue)
    entered = {} if entered is None else entered
    entered.update({task: 0 for task in queue})
    last_entry = 0
    while queue:
        earliest = min(takes)
        # among the slices that can take first: one that holds no task yet, then the lowest index
        index = min((i for i in range(slices) if takes[i] == earliest), key=lambda i: (bool(taken[i]), i))
        if policy not in ("in-order", "longest-first"):
            raise ValueError(f"unknown dispatch policy {policy!r}")
        position, best = None, None
        for candidate, task in enumerate(queue):
            if not eligible(task):
                continue
            rank = (ready_time is None or ready_time(task) <= earliest,
                    priority[task] if policy == "longest-first" else 0)
            if best is None or rank > best:  # strictly: the oldest wins ties
                position, best = candidate, rank
        if position is None:
            raise AssertionError("no queued task could be handed out")
        handed.add(queue[position])
        taken[index].append(queue.pop(position))
        if following < len(lengths):
            last_entry = entered[following] = max(earliest, last_entry + refill)
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
    (Σ phase ends + the convention's layer offset) and the MACs performed on real operands.
    """
    work = plan.sliced
    rows, width, slices = config.rows_per_slice, config.slice_cols, config.array_slices
    dataflow, timing, gate = config.dataflow, get_timing(config.timing), config.gate_latency_cycles
    latency = config.dispatch_latency_cycles  # from a slice taking a task to its first fold
    uncounted_drain = rows if get_dataflow(dataflow).drains_accumulators and not timing.counts_accumulator_drain else 0
    output = np.zeros((a.shape[0], w.shape[1]), dtype=np.result_type(a, w, np.int64))
    cycles, executed = timing.layer_offset_cycles, 0
    for tasks in work.phases:
        items: list[WorkItem] = [task.item for task in tasks]
        needs = [task.after for task in tasks]
        # a base task of window w ≥ 2 waits for every task of window w − 2 (its ofmap half)
        members: dict[int, list[int]] = {}
        for index, task in enumerate(tasks):
            members.setdefault(task.window, []).append(index)
        freeing = [members[task.window - 2] if task.after < 0 and task.window >= 2 else []
                   for task in tasks]
        generated = generation_waits(needs, config.task_generation_cycles)
        entered: dict[int, int] = {}  # per task: when it entered the queue (queue_order fills it)
        operands = [(a[np.ix_(item.pixels, item.k_index)], w[np.ix_(item.k_index, item.channels)])
                    for item in items]
        blocks: dict[int, np.ndarray] = {}
        if timing.pipelined:
            folds = [gemm_folds(sub_a, sub_w, dataflow, rows, width) for sub_a, sub_w in operands]
            steps = [[fold.second.shape[0] for fold in item_folds] for item_folds in folds]
            lengths = [sum(max(t, rows) for t in item_steps) for item_steps in steps]
            held: dict[int, list[int]] = {}  # per task taken: its slice's tasks up to it
            ends: dict[int, int] = {}
            taken_at: dict[int, int] = {}  # per task: when its slice took it
            last_take = [0] * slices  # per slice: when it took its last task

            drain = rows + width - (1 if get_dataflow(dataflow).drains_accumulators else 2)

            def schedule_of(taken: list[int], steps=steps) -> tuple[list[int], list[int]]:
                """The steps of the slice's folds, and when each may start at the earliest."""
                step_list, earliest = [], []
                for task in taken:
                    step_list += steps[task]
                    earliest += [max(ready_time(task), taken_at[task] + latency)] + [0] * (len(steps[task]) - 1)
                return step_list, earliest

            def end_of(task: int, held=held, ends=ends) -> int:
                """When the task's last result leaves its slice: its last fold's start under the
                controller's rule, its steps, and the array's skew and drain (the machine's run
                confirms it below for the last task of every slice)."""
                if task not in ends:
                    step_list, earliest = schedule_of(held[task])
                    ends[task] = controller_starts(dataflow, step_list, rows, width, earliest=earliest)[-1] \
                        + step_list[-1] + drain
                return ends[task]

            def ready_time(task: int) -> int:
                """When what the task waits for has ended (its set's decisions and their writing
                into the queue, its ofmap half) and it has entered the queue."""
                decided = end_of(needs[task]) + gate + generated[task] if needs[task] >= 0 else 0
                return max([decided, entered[task]] + [end_of(other) for other in freeing[task]])

            def take_time(index: int, taken: list[int], held=held, taken_at=taken_at, last_take=last_take) -> int:
                held[taken[-1]] = list(taken)
                taken_at[taken[-1]] = last_take[index]
                step_list, earliest = schedule_of(taken)
                last_take[index] = controller_starts(dataflow, step_list, rows, width, earliest=earliest)[-1]
                return last_take[index]

            assignment = queue_order(lengths, slices, config.queue_depth_tasks, config.dispatch, take_time,
                                     needs, freeing, ready_time, config.queue_refill_cycles, entered)
            ends_of_slices = []
            for taken in assignment:
                if not taken:
                    continue
                sequence, offset = [], 0
                for task in taken:
                    sequence += [renumbered(fold, offset) for fold in folds[task]]
                    offset += len(items[task].pixels) * len(items[task].channels)
                result = run_sequence(sequence, dataflow, rows, width, offset, earliest=schedule_of(taken)[1])
                if result.cycles != end_of(taken[-1]):
                    raise AssertionError("a slice's machine ended when its controller's rule says it would not")
                ends_of_slices.append(result.cycles)
                executed += result.useful_macs
                start = 0
                for task in taken:
                    shape = (len(items[task].pixels), len(items[task].channels))
                    blocks[task] = (result.base + result.conditional)[start:start + shape[0] * shape[1]].reshape(shape)
                    start += shape[0] * shape[1]
            cycles += max(ends_of_slices, default=0)
        else:
            # each fold alone, one after another on its slice; a task starts once its decisions are there
            alone = [simulate_gemm(sub_a, sub_w, dataflow, rows, width) for sub_a, sub_w in operands]
            lengths = [result.cycles - uncounted_drain * result.folds for result in alone]
            last_fold = [simulate_gemm(*_last_tile(sub_a, sub_w, dataflow, rows, width), dataflow, rows, width)
                         for sub_a, sub_w in operands]
            lasts = [result.cycles - uncounted_drain for result in last_fold]
            finish: dict[int, int] = {}
            took = [0] * slices  # per slice: when it took its last task

            def ready_time(task: int, finish=finish) -> int:
                decided = finish[needs[task]] + gate + generated[task] if needs[task] >= 0 else 0
                return max([decided, entered[task]] + [finish[other] for other in freeing[task]])

            def take_time(index: int, taken: list[int], finish=finish, lengths=lengths, lasts=lasts, took=took) -> int:
                clock = finish[taken[-2]] if len(taken) > 1 else 0
                start = max(clock, ready_time(taken[-1]), took[index] + latency)
                finish[taken[-1]] = start + lengths[taken[-1]]
                took[index] = finish[taken[-1]] - lasts[taken[-1]]
                return took[index]

            assignment = queue_order(lengths, slices, config.queue_depth_tasks, config.dispatch, take_time,
                                     needs, freeing, ready_time, config.queue_refill_cycles, entered)
            cycles += max((finish[taken[-1]] for taken in assignment if taken), default=0)
            for index, result in enumerate(alone):
                executed += result.useful_macs
                blocks[index] = result.output
        for index in sorted(blocks):  # in task order: a base task writes before its set's conditional tasks add
            apply_result(output, items[index], blocks[index], decisions)
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
