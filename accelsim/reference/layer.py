"""The per-cycle reference run of a whole layer's plan: every work item on the reference
machines (:mod:`accelsim.reference.array`, :mod:`accelsim.reference.sequence`; a sliced plan on
:mod:`accelsim.reference.sliced`), with the numeric outputs the plan's gating gives."""

from __future__ import annotations

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import get_timing
from accelsim.reference.array import simulate_gemm
from accelsim.reference.folds import gemm_folds
from accelsim.reference.outputs import apply_result, renumbered
from accelsim.reference.sequence import run_sequence
from accelsim.reference.sliced import execute_sliced_on_reference
from accelsim.schedule.plan import PHASE_CONDITIONAL, PHASE_ONE_PASS, LayerPlan, sequences


def execute_on_reference(plan: LayerPlan, a: np.ndarray, w: np.ndarray, decisions: np.ndarray | None,
                         config) -> tuple[np.ndarray, int, int]:
    """Run every item of ``plan`` on the per-cycle reference array of ``config``.

    ``a`` is M×K, ``w`` K×N, ``decisions`` M×N (None for an ungated layer). Base and dense
    items write their results; conditional items add theirs only where the gate is on, as
    the output unit does; a one-pass item gives ``Yp + d·Yc``. Under ``pipelined`` each
    sequence of items runs back to back on one machine; otherwise each fold runs alone on the
    per-fold machine (under ``scalesim`` less its OS drain), and a one-pass item's gates run
    on the sequence machine with its folds spaced as they would run alone. Returns the M×N
    output, the cycles and the MACs performed on real operands. A sliced plan runs its tasks
    on the array's slices (:mod:`accelsim.reference.sliced`).
    """
    if plan.sliced is not None:
        return execute_sliced_on_reference(plan, a, w, decisions, config)
    rows, cols, dataflow = config.array_rows, config.array_cols, config.dataflow
    output = np.zeros((a.shape[0], w.shape[1]), dtype=np.result_type(a, w, np.int64))
    timing = get_timing(config.timing)
    uncounted_drain = rows if get_dataflow(dataflow).drains_accumulators and not timing.counts_accumulator_drain else 0
    cycles, executed = timing.layer_offset_cycles, 0
    for sequence in sequences(plan.items):
        if sequence[0].phase == PHASE_CONDITIONAL:
            cycles += config.gate_latency_cycles
        one_pass = sequence[0].phase == PHASE_ONE_PASS
        if not (timing.pipelined or one_pass):
            for item in sequence:
                result = simulate_gemm(a[np.ix_(item.pixels, item.k_index)], w[np.ix_(item.k_index, item.channels)],
                                       dataflow, rows, cols)
                cycles += result.cycles - uncounted_drain * result.folds
                executed += result.useful_macs
                apply_result(output, item, result.output, decisions)
            continue
        folds, spans, offset = [], [], 0
        for item in sequence:
            sub_a = a[np.ix_(item.pixels, item.k_index)]
            sub_w = w[np.ix_(item.k_index, item.channels)]
            base = None if item.base is None else item.base()[np.ix_(item.k_index, item.channels)]
            folds += [renumbered(fold, offset) for fold in
                      gemm_folds(sub_a, sub_w, dataflow, rows, cols, item.k_order, base)]
            spans.append((item, offset))
            offset += len(item.pixels) * len(item.channels)
        gate_args = {}
        if one_pass:
            (item,) = sequence  # a one-pass layer is one GEMM
            gate_args = dict(decisions=decisions[np.ix_(item.pixels, item.channels)].ravel(),
                             base_needed=item.base()[np.ix_(item.k_index, item.channels)].sum(axis=0)
                             [None, :].repeat(len(item.pixels), 0).ravel(),
                             gate_latency=config.gate_latency_cycles)
        result = run_sequence(folds, dataflow, rows, cols, offset, **gate_args,
                              spacing="pipelined" if timing.pipelined else "physical")
        if timing.pipelined:
            cycles += result.cycles
        else:  # a one-pass layer alone: its dense folds, each on the per-fold machine
            alone = simulate_gemm(a, w, dataflow, rows, cols)
            cycles += alone.cycles - uncounted_drain * alone.folds
        executed += result.useful_macs
        for item, start in spans:
            shape = (len(item.pixels), len(item.channels))
            base = result.base[start:start + shape[0] * shape[1]].reshape(shape)
            cond = result.conditional[start:start + shape[0] * shape[1]].reshape(shape)
            if one_pass:
                output[np.ix_(item.pixels, item.channels)] = base + np.where(
                    decisions[np.ix_(item.pixels, item.channels)], cond, 0)
            else:
                apply_result(output, item, base + cond, decisions)
    return output, cycles, executed
