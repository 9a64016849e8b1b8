"""Closed-form, stall-free cycle counts of folds and dense layers.

A fold streams ``T`` steps of the time dimension through an R×C array whose operands enter
skewed, one hop per cycle. Its cycles are the sum of

* ``R`` to shift the stationary tile in, when the dataflow has one (WS, IS);
* ``R + C − 2 + T``: the skewed wavefront crossing the array while ``T`` steps stream in;
* ``R`` to shift the accumulators out, when results stay in the PEs (OS).

so ``2R + C + T − 2`` for every dataflow. R and C are the *physical* array sizes: an edge fold
that uses fewer rows or columns is clocked exactly like a full one. Folds do not overlap.

Two named conventions count a layer's cycles:

``physical`` (default)
    Every fold as above; a layer is the sum of its folds.
``scalesim``
    SCALE-Sim 3.0.0's code: its OS fold leaves the R drain cycles out (``R + C + K − 2``, a
    known upstream bug, the paper itself says ``2R + C + K − 2``), and each layer reports
    ``Σ folds − 1``. Its WS and IS folds equal the physical ones. Under this convention the
    dense stall-free count of a layer equals SCALE-Sim's ``Total Cycles`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.arch.dataflow import Dataflow, get_dataflow
from accelsim.registry import Registry


@dataclass(frozen=True)
class TimingConvention:
    """How fold cycles add up to a layer's cycles.

    Attributes
    ----------
    counts_accumulator_drain:
        Whether an output-stationary fold pays the R cycles that shift its results out.
    layer_offset_cycles:
        Added once to every layer's total (−1 under ``scalesim``).
    """

    name: str
    counts_accumulator_drain: bool
    layer_offset_cycles: int
    description: str


TIMINGS: Registry[TimingConvention] = Registry("timing convention")
TIMINGS.register("physical", TimingConvention(
    "physical", True, 0, "every fold loads, streams and drains; a layer is the sum of its folds"))
TIMINGS.register("scalesim", TimingConvention(
    "scalesim", False, -1, "SCALE-Sim 3.0.0's code: no OS drain, Σ folds − 1 per layer"))


def get_timing(name: str | TimingConvention) -> TimingConvention:
    return name if isinstance(name, TimingConvention) else TIMINGS.get(name)


def fold_cycles(dataflow: str | Dataflow, rows: int, cols: int, time_steps: int | np.ndarray,
                timing: str | TimingConvention = "physical") -> int | np.ndarray:
    """Cycles of one fold on an R×C array (``rows`` = R, ``cols`` = C) streaming
    ``time_steps`` steps; an integer array of steps gives an array of cycles."""
    flow, convention = get_dataflow(dataflow), get_timing(timing)
    overhead = rows + cols - 2
    if flow.preloads_stationary:
        overhead += rows
    if flow.drains_accumulators and convention.counts_accumulator_drain:
        overhead += rows
    if np.ndim(time_steps):
        return np.asarray(time_steps, dtype=np.int64) + overhead
    return int(time_steps) + overhead


def fold_grid(dataflow: str | Dataflow, rows: int, cols: int, m: int, n: int, k: int) -> tuple[int, int, int]:
    """``(row_folds, col_folds, time_steps)`` of a GEMM ``M×N×K`` on an R×C array."""
    extent_rows, extent_cols, time_steps = get_dataflow(dataflow).dims(m, n, k)
    return -(-extent_rows // rows), -(-extent_cols // cols), time_steps


def dense_gemm_cycles(dataflow: str | Dataflow, rows: int, cols: int, m: int, n: int, k: int,
                      timing: str | TimingConvention = "physical") -> int:
    """Stall-free cycles of one dense GEMM ``M×N×K``, with the convention's layer offset."""
    row_folds, col_folds, time_steps = fold_grid(dataflow, rows, cols, m, n, k)
    per_fold = fold_cycles(dataflow, rows, cols, time_steps, timing)
    return row_folds * col_folds * per_fold + get_timing(timing).layer_offset_cycles
