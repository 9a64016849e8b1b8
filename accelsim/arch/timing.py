"""Closed-form, stall-free cycle counts of folds and dense layers.

A fold streams ``T`` steps of the time dimension through an R×C array whose operands enter
skewed, one hop per cycle. Its cycles are the sum of

* ``R`` to shift the stationary tile in, when the dataflow has one (WS, IS);
* ``R + C − 2 + T``: the skewed wavefront crossing the array while ``T`` steps stream in;
* ``R`` to shift the accumulators out, when results stay in the PEs (OS).

so ``2R + C + T − 2`` for every dataflow. R and C are the *physical* array sizes: an edge fold
that uses fewer rows or columns is clocked exactly like a full one. Folds do not overlap.

Three named conventions count a layer's cycles:

``pipelined`` (default)
    Double-buffered arrays, as built: WS/IS load the next stationary tile into shadow
    registers while the current fold streams, OS hands finished accumulators to shadow
    registers that drain through each column's output port while the next fold accumulates,
    and the skewed wavefronts of consecutive folds follow each other. A fold costs its period
    ``max(T, R)``: its streaming, or the R cycles of loading (WS/IS) or draining (OS) that it
    overlaps. Each uninterrupted *sequence* of folds pays one fill and one drain on top:
    ``R + C − 1 − max(0, R − T_first)`` for OS, ``2R + C − 2 − max(0, R − T_last)`` for WS/IS
    (the fold at the open end of the pipeline is not padded to R). A single fold costs
    ``R + C + T − 1`` (OS: the drain overlaps the skew) or ``2R + C + T − 2`` (WS/IS).
``physical``
    Every fold as above, no overlap; a layer is the sum of its folds.
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
    pipelined:
        Whether consecutive folds overlap their fill and drain (see the module docstring).
    """

    name: str
    counts_accumulator_drain: bool
    layer_offset_cycles: int
    description: str
    pipelined: bool = False


TIMINGS: Registry[TimingConvention] = Registry("timing convention")
TIMINGS.register("pipelined", TimingConvention(
    "pipelined", True, 0, "double-buffered: folds overlap their fill and drain; one fill and one "
    "drain per uninterrupted sequence of folds", pipelined=True))
TIMINGS.register("physical", TimingConvention(
    "physical", True, 0, "every fold loads, streams and drains; a layer is the sum of its folds"))
TIMINGS.register("scalesim", TimingConvention(
    "scalesim", False, -1, "SCALE-Sim 3.0.0's code: no OS drain, Σ folds − 1 per layer"))


def get_timing(name: str | TimingConvention) -> TimingConvention:
    return name if isinstance(name, TimingConvention) else TIMINGS.get(name)


def fold_cycles(dataflow: str | Dataflow, rows: int, cols: int, time_steps: int | np.ndarray,
                timing: str | TimingConvention = "physical") -> int | np.ndarray:
    """Cycles of one fold on an R×C array (``rows`` = R, ``cols`` = C) streaming
    ``time_steps`` steps; an integer array of steps gives an array of cycles. Under
    ``pipelined`` this is the fold's period inside a sequence (see :func:`sequence_overhead`)."""
    flow, convention = get_dataflow(dataflow), get_timing(timing)
    if convention.pipelined:
        if np.ndim(time_steps):
            return np.maximum(np.asarray(time_steps, dtype=np.int64), rows)
        return max(int(time_steps), rows)
    overhead = rows + cols - 2
    if flow.preloads_stationary:
        overhead += rows
    if flow.drains_accumulators and convention.counts_accumulator_drain:
        overhead += rows
    if np.ndim(time_steps):
        return np.asarray(time_steps, dtype=np.int64) + overhead
    return int(time_steps) + overhead


def sequence_overhead(dataflow: str | Dataflow, rows: int, cols: int, first_steps: int, last_steps: int,
                      timing: str | TimingConvention = "physical") -> int:
    """Cycles an uninterrupted sequence of folds adds to the sum of its :func:`fold_cycles`:
    one fill and one drain under ``pipelined`` (less the padding of the fold at the open end
    of the pipeline: the first for OS, the last for WS/IS), none otherwise. ``first_steps``
    and ``last_steps`` are the T of the sequence's first and last folds."""
    flow, convention = get_dataflow(dataflow), get_timing(timing)
    if not convention.pipelined:
        return 0
    if flow.drains_accumulators:
        return rows + cols - 1 - max(0, rows - int(first_steps))
    return 2 * rows + cols - 2 - max(0, rows - int(last_steps))


def sequence_cycles(dataflow: str | Dataflow, rows: int, cols: int, time_steps, timing: str | TimingConvention
                    = "physical") -> int:
    """Stall-free cycles of folds streaming ``time_steps`` (one T per fold, in issue order)
    run back to back as one uninterrupted sequence (no layer offset)."""
    steps = [int(t) for t in time_steps]
    if not steps:
        return 0
    periods = sum(int(fold_cycles(dataflow, rows, cols, t, timing)) for t in steps)
    return periods + sequence_overhead(dataflow, rows, cols, steps[0], steps[-1], timing)


def fold_grid(dataflow: str | Dataflow, rows: int, cols: int, m: int, n: int, k: int) -> tuple[int, int, int]:
    """``(row_folds, col_folds, time_steps)`` of a GEMM ``M×N×K`` on an R×C array."""
    extent_rows, extent_cols, time_steps = get_dataflow(dataflow).dims(m, n, k)
    return -(-extent_rows // rows), -(-extent_cols // cols), time_steps


def dense_gemm_cycles(dataflow: str | Dataflow, rows: int, cols: int, m: int, n: int, k: int,
                      timing: str | TimingConvention = "physical") -> int:
    """Stall-free cycles of one dense GEMM ``M×N×K`` (its folds one sequence), with the
    convention's layer offset."""
    row_folds, col_folds, time_steps = fold_grid(dataflow, rows, cols, m, n, k)
    per_fold = fold_cycles(dataflow, rows, cols, time_steps, timing)
    overhead = sequence_overhead(dataflow, rows, cols, time_steps, time_steps, timing)
    return row_folds * col_folds * per_fold + overhead + get_timing(timing).layer_offset_cycles
