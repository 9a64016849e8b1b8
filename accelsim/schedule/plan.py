"""Fold plans: what a scheduler hands to the engine.

A scheduler describes a layer's work for one image as :class:`WorkItem` GEMMs — which output
pixels and channels, over which reduction indices — and the plan tiles each item onto the
array. The folds are kept as *runs* of identical folds in a numpy structured array, so that the
engine's cost grows with the number of distinct folds and never with MACs or cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import fold_cycles, get_timing, sequence_overhead
from accelsim.workload.layer import Layer

#: Phases of a fold: an ungated layer, the base pass or the conditional pass of a gated one
#: run in two passes, or a gated layer run in one pass (base indices first, off outputs
#: clock-gated after their decision).
PHASE_DENSE, PHASE_BASE, PHASE_CONDITIONAL, PHASE_ONE_PASS = 0, 1, 2, 3

#: Columns of :attr:`LayerPlan.runs`; every count is per fold of the run.
RUN_DTYPE = np.dtype([
    ("count", np.int64),        # folds in this run
    ("rows_used", np.int64),    # array rows holding real work (≤ R)
    ("cols_used", np.int64),    # array columns holding real work (≤ C)
    ("time_steps", np.int64),   # steps streamed through the array (T)
    ("cycles", np.int64),       # stall-free cycles of one fold
    ("phase", np.int8),         # PHASE_DENSE, PHASE_BASE or PHASE_CONDITIONAL
    ("inner_folds", np.int64),  # folds of the run's GEMM along the inner loop (see below)
    ("reduction_folds", np.int64),  # folds of the run's GEMM along the reduction K (1 when K streams)
])


def inner_dim(dataflow) -> str:
    """The GEMM dimension the inner loop of fold issue walks: output pixels (M) where they lie
    on the array, else output channels (N). The operand without that dimension (W for M, A
    for N) stays in its SRAM across the inner loop when it fits."""
    flow = get_dataflow(dataflow)
    return "M" if "M" in (flow.rows_dim, flow.cols_dim) else "N"


@dataclass(frozen=True, eq=False)
class WorkItem:
    """One GEMM of a plan: outputs ``pixels × channels`` accumulated over ``k_index``.

    Index arrays refer to the layer's own GEMM: ``pixels`` are rows of A (0 … M−1),
    ``channels`` columns of W (0 … N−1), ``k_index`` the reduction (0 … K−1).
    ``needed_macs`` counts the MACs of outputs that need this work (all of them, except in
    a conditional pass, where only outputs whose gate is on do). A one-pass item carries the
    order of its reduction indices per fold column tile (``k_order``) and which of them are
    base indices of which output (``base``: a function giving the K×N mask, made when needed).
    """

    phase: int
    pixels: np.ndarray
    channels: np.ndarray
    k_index: np.ndarray
    needed_macs: int
    k_order: Callable[[np.ndarray], np.ndarray] | None = None
    base: Callable[[], np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(M, N, K)`` of this GEMM."""
        return len(self.pixels), len(self.channels), len(self.k_index)


def _tile_widths(extent: int, size: int) -> list[tuple[int, int]]:
    """``(width, count)`` of the tiles covering ``extent``: full tiles, then the edge tile."""
    full, edge = divmod(extent, size)
    return [(width, count) for width, count in ((size, full), (edge, 1 if edge else 0)) if count]


def gemm_runs(m: int, n: int, k: int, rows: int, cols: int, dataflow, timing, phase: int = PHASE_DENSE,
              repeat: int = 1) -> np.ndarray:
    """The folds of a dense ``M×N×K`` GEMM grouped by shape: at most four runs (full or edge
    in rows × full or edge in columns), each ``repeat`` times."""
    rows_extent, cols_extent, time_steps = get_dataflow(dataflow).dims(m, n, k)
    shapes = [(used_rows, used_cols, row_count * col_count * repeat)
              for used_cols, col_count in _tile_widths(cols_extent, cols)
              for used_rows, row_count in _tile_widths(rows_extent, rows)]
    runs = np.zeros(len(shapes), dtype=RUN_DTYPE)
    if shapes:
        runs["rows_used"], runs["cols_used"], runs["count"] = np.array(shapes, dtype=np.int64).T
    runs["time_steps"] = time_steps
    runs["cycles"] = fold_cycles(dataflow, rows, cols, time_steps, timing)
    runs["phase"] = phase
    flow = get_dataflow(dataflow)
    sides = {flow.rows_dim: (rows_extent, rows), flow.cols_dim: (cols_extent, cols), flow.time_dim: (1, 1)}
    extent, side = sides[inner_dim(flow)]
    runs["inner_folds"] = -(-extent // side)
    extent, side = sides["K"]
    runs["reduction_folds"] = -(-extent // side)
    return runs


@dataclass(frozen=True)
class LayerPlan:
    """The folds a scheduler chose for one layer and one image.

    Attributes
    ----------
    layer:
        The layer planned.
    scheduler:
        Name of the scheduler that made the plan.
    runs:
        Structured array of :data:`RUN_DTYPE`, in the order the engine issues the runs.
    offset_cycles:
        Added once to the layer's cycles by the timing convention (``scalesim``: −1).
    needed_macs:
        MACs the layer needs for this image: all of them when ungated; base pass plus the
        conditional MACs of outputs whose gate is on when gated.
    items:
        The work items the runs were tiled from (kept for the reference check).
    gate_on_rate:
        Fraction of this layer's decisions that are on (NaN for an ungated layer).
    gate_groups:
        G of a gated layer (0 when the layer runs ungated).
    path:
        How the layer ran: ``dense``, ``two-pass`` (base pass, then the conditional work the
        scheduler chose) or ``one-pass`` (every fold, off outputs clock-gated after their
        decision).
    executed_macs:
        MACs the PEs performed on real operands (None: exactly the needed ones). In one pass,
        off outputs also run the conditional MACs that stream before their decision.
    granular_macs:
        MACs any fold-based schedule must run at this array's channel-set width (channels in
        natural order): the trace's limit (None: the layer's own MACs, ungated).
    sliced:
        The tasks of a plan that runs on independent slices of the array, phase by phase
        (:class:`SlicedWork`); None when the array runs as one.
        ``runs`` then lists every task's folds on its slice.
    """

    layer: Layer
    scheduler: str
    runs: np.ndarray
    offset_cycles: int = 0
    needed_macs: int = 0
    items: tuple[WorkItem, ...] = ()
    gate_on_rate: float = float("nan")
    gate_groups: int = 0
    path: str = "dense"
    executed_macs: int | None = None
    granular_macs: int | None = None
    sliced: "SlicedWork | None" = None

    @property
    def macs_executed(self) -> int:
        """MACs performed on real operands (clock-gated ones excluded)."""
        return self.needed_macs if self.executed_macs is None else self.executed_macs

    @property
    def folds(self) -> int:
        return int(self.runs["count"].sum())

    @property
    def cycles(self) -> int:
        """Stall-free cycles: every fold back to back (on sliced hardware, each phase's
        slowest slice), plus the convention's offset."""
        if self.sliced is not None:
            return sum(self.sliced.makespans) + self.offset_cycles
        return int((self.runs["count"] * self.runs["cycles"]).sum()) + self.offset_cycles

    @property
    def array_tasks(self) -> tuple[Task, ...]:
        """The folds of a plan for one array as the tasks of one slice of the slice machine
        (:mod:`accelsim.arch.machine`, its P = 1 case), in issue order: the layer's first
        fold alone (it follows no fold, so it waits for all of its transfer), then a task per
        run; each run of a conditional pass waits for the decisions of the last run before
        its pass."""
        runs = self.runs
        tasks: list[Task] = []
        decided = -1  # the task whose last result a conditional pass waits for
        columns = zip(runs["count"].tolist(), runs["time_steps"].tolist(), runs["cycles"].tolist(),
                      runs["phase"].tolist(), runs["rows_used"].tolist(), runs["cols_used"].tolist())
        for index, (count, steps, cycles, phase, rows, cols) in enumerate(columns):
            if not count:
                continue
            if phase == PHASE_CONDITIONAL and tasks and decided < 0:
                decided = len(tasks) - 1
            elif phase != PHASE_CONDITIONAL:
                decided = -1
            if tasks or count == 1:
                tasks.append(Task(None, runs[index:index + 1], count * cycles, ((count, steps),), decided, 0, count,
                                  ((rows, cols),)))
                continue
            for part in (1, count - 1):  # the layer's first fold alone
                run = runs[index:index + 1].copy()
                run["count"] = part
                tasks.append(Task(None, run, part * cycles, ((part, steps),), decided, 0, part, ((rows, cols),)))
        return tuple(tasks)

    @property
    def macs(self) -> int:
        """MACs the array performs on real operands (padded lanes of edge folds excluded);
        in a conditional pass this includes the outputs that are off but share a fold."""
        runs = self.runs
        return int((runs["count"] * runs["rows_used"] * runs["cols_used"] * runs["time_steps"]).sum())

    @property
    def mapped_pe_folds(self) -> int:
        """Σ over folds of the PEs holding real work (rows_used · cols_used)."""
        runs = self.runs
        return int((runs["count"] * runs["rows_used"] * runs["cols_used"]).sum())


@dataclass(frozen=True, eq=False)
class Task:
    """One task: a work item's folds on one slice, in issue order."""

    item: WorkItem | None  #: None for one array's run (:attr:`LayerPlan.array_tasks`)
    runs: np.ndarray  #: RUN_DTYPE rows of the item tiled onto one slice
    periods: int  #: stall-free cycles of its folds back to back (its length for dispatch)
    folds: tuple[tuple[int, int], ...] = ()  #: ``(count, steps)`` of its non-empty runs, for the clocks
    after: int = -1  #: the task of its phase whose decisions it needs (its set's base task), or −1
    window: int = 0  #: the window of pixels it belongs to (base tasks of window w ≥ 2 wait for window w − 2)
    fold_count: int = -1  #: its folds in all (−1: counted from ``folds``)
    #: ``(rows, cols)`` of the PEs in use, one per entry of ``folds`` (what its folds stream on)
    lanes: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.fold_count < 0:
            object.__setattr__(self, "fold_count", sum(count for count, _ in self.folds))


@dataclass(frozen=True, eq=False)
class SlicedWork:
    """A layer's tasks on a sliced array: what the engine dispatches."""

    phases: tuple[tuple[Task, ...], ...]  #: the tasks of each phase, in queue order
    makespans: tuple[int, ...] = field(default=())  #: stall-free cycles of each phase
    busy: int = 0  #: Σ over phases and slices of the slice's stall-free sequence cycles, waits left out
    held_outputs: int = 0  #: most base partial sums that wait in one half of the ofmap SRAM


def _time_steps(item: WorkItem, dataflow) -> int:
    return get_dataflow(dataflow).dims(*item.shape)[2]


def sequences(items: Sequence[WorkItem]) -> list[list[WorkItem]]:
    """The items cut into uninterrupted sequences of folds: the conditional pass of a
    two-pass layer waits for the decisions of its base pass, so it starts a new one."""
    cut: list[list[WorkItem]] = []
    for item in items:
        if not cut or (item.phase == PHASE_CONDITIONAL and cut[-1][-1].phase != PHASE_CONDITIONAL):
            cut.append([])
        cut[-1].append(item)
    return cut


def sequences_overhead(items: Sequence[WorkItem], config) -> int:
    """Fill and drain of every sequence of ``items`` under the config's timing (0 unless
    pipelined), plus the gate latency before a conditional pass."""
    total = 0
    for sequence in sequences([item for item in items if item is not None]):
        first, last = (_time_steps(item, config.dataflow) for item in (sequence[0], sequence[-1]))
        total += sequence_overhead(config.dataflow, config.array_rows, config.array_cols, first, last,
                                   config.timing)
        if sequence[0].phase == PHASE_CONDITIONAL:
            total += config.gate_latency_cycles
    return total


def items_cycles(items: Sequence[WorkItem], config) -> int:
    """Stall-free cycles of some work items tiled onto the array."""
    items = [item for item in items if item is not None]
    return sum(int((runs["count"] * runs["cycles"]).sum()) for runs in
               (gemm_runs(*item.shape, config.array_rows, config.array_cols, config.dataflow, config.timing)
                for item in items)) + sequences_overhead(items, config)


def plan_from_items(layer: Layer, scheduler: str, items: Sequence[WorkItem], config,
                    gate_on_rate: float = float("nan"), gate_groups: int = 0, path: str = "two-pass",
                    executed_macs: int | None = None) -> LayerPlan:
    """Tile every item onto the array, in order; the convention's layer offset, the fill and
    drain of each sequence and the gate latency before a conditional pass are added once."""
    parts = [gemm_runs(*item.shape, config.array_rows, config.array_cols, config.dataflow,
                       config.timing, item.phase) for item in items]
    runs = np.concatenate(parts) if parts else np.zeros(0, dtype=RUN_DTYPE)
    offset = get_timing(config.timing).layer_offset_cycles + sequences_overhead(items, config)
    return LayerPlan(layer, scheduler, runs, offset, sum(item.needed_macs for item in items),
                     tuple(items), gate_on_rate, gate_groups, path, executed_macs)
