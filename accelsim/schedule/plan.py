"""Fold plans: what a scheduler hands to the engine.

A scheduler describes a layer's work for one image as :class:`WorkItem` GEMMs — which output
pixels and channels, over which reduction indices — and the plan tiles each item onto the
array. The folds are kept as *runs* of identical folds in a numpy structured array, so that the
engine's cost grows with the number of distinct folds and never with MACs or cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.reference import simulate_gemm
from accelsim.arch.timing import fold_cycles
from accelsim.workload.layer import Layer

#: Phases of a fold: an ungated layer, the base pass or the conditional pass of a gated one.
PHASE_DENSE, PHASE_BASE, PHASE_CONDITIONAL = 0, 1, 2

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
    a conditional pass, where only outputs whose gate is on do).
    """

    phase: int
    pixels: np.ndarray
    channels: np.ndarray
    k_index: np.ndarray
    needed_macs: int

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
    """

    layer: Layer
    scheduler: str
    runs: np.ndarray
    offset_cycles: int = 0
    needed_macs: int = 0
    items: tuple[WorkItem, ...] = ()
    gate_on_rate: float = float("nan")
    gate_groups: int = 0

    @property
    def folds(self) -> int:
        return int(self.runs["count"].sum())

    @property
    def cycles(self) -> int:
        """Stall-free cycles: every fold back to back, plus the convention's offset."""
        return int((self.runs["count"] * self.runs["cycles"]).sum()) + self.offset_cycles

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


def items_cycles(items: Sequence[WorkItem], config) -> int:
    """Stall-free cycles of some work items tiled onto the array."""
    return sum(int((runs["count"] * runs["cycles"]).sum()) for runs in
               (gemm_runs(*item.shape, config.array_rows, config.array_cols, config.dataflow, config.timing)
                for item in items if item is not None))


def plan_from_items(layer: Layer, scheduler: str, items: Sequence[WorkItem], config,
                    offset_cycles: int, gate_on_rate: float = float("nan"), gate_groups: int = 0) -> LayerPlan:
    """Tile every item onto the array, in order."""
    parts = [gemm_runs(*item.shape, config.array_rows, config.array_cols, config.dataflow,
                       config.timing, item.phase) for item in items]
    runs = np.concatenate(parts) if parts else np.zeros(0, dtype=RUN_DTYPE)
    return LayerPlan(layer, scheduler, runs, offset_cycles, sum(item.needed_macs for item in items),
                     tuple(items), gate_on_rate, gate_groups)


def execute_on_reference(plan: LayerPlan, a: np.ndarray, w: np.ndarray, decisions: np.ndarray | None,
                         dataflow, rows: int, cols: int) -> tuple[np.ndarray, int]:
    """Run every item of ``plan`` on the per-cycle reference array.

    ``a`` is M×K, ``w`` K×N, ``decisions`` M×N (None for an ungated layer). Base and dense
    items write their results; conditional items add theirs only where the gate is on, as
    the output unit does. Returns the M×N output and the cycles (physical convention).
    """
    output = np.zeros((a.shape[0], w.shape[1]), dtype=np.result_type(a, w, np.int64))
    cycles = 0
    for item in plan.items:
        result = simulate_gemm(a[np.ix_(item.pixels, item.k_index)], w[np.ix_(item.k_index, item.channels)],
                               dataflow, rows, cols)
        cycles += result.cycles
        block = np.ix_(item.pixels, item.channels)
        if item.phase == PHASE_CONDITIONAL:
            output[block] += np.where(decisions[block], result.output, 0)
        else:
            output[block] = result.output
    return output, cycles
