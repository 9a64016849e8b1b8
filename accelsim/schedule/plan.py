"""Fold plans: what a scheduler hands to the engine.

A plan lists a layer's folds as *runs* of identical folds, in the order the engine issues them,
in a numpy structured array, so that its size grows with the number of distinct folds and never
with MACs or cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.workload.layer import Layer

#: Columns of :attr:`LayerPlan.runs`; every count is per fold of the run.
RUN_DTYPE = np.dtype([
    ("count", np.int64),        # folds in this run
    ("rows_used", np.int64),    # array rows holding real work (≤ R)
    ("cols_used", np.int64),    # array columns holding real work (≤ C)
    ("time_steps", np.int64),   # steps streamed through the array (T)
    ("cycles", np.int64),       # stall-free cycles of one fold
])


@dataclass(frozen=True)
class LayerPlan:
    """The folds a scheduler chose for one layer.

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
    """

    layer: Layer
    scheduler: str
    runs: np.ndarray
    offset_cycles: int = 0

    @property
    def folds(self) -> int:
        return int(self.runs["count"].sum())

    @property
    def cycles(self) -> int:
        """Stall-free cycles: every fold back to back, plus the convention's offset."""
        return int((self.runs["count"] * self.runs["cycles"]).sum()) + self.offset_cycles

    @property
    def macs(self) -> int:
        """MACs on real operands (padded lanes of edge folds excluded)."""
        runs = self.runs
        return int((runs["count"] * runs["rows_used"] * runs["cols_used"] * runs["time_steps"]).sum())

    @property
    def mapped_pe_folds(self) -> int:
        """Σ over folds of the PEs holding real work (rows_used · cols_used)."""
        runs = self.runs
        return int((runs["count"] * runs["rows_used"] * runs["cols_used"]).sum())
