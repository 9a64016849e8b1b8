"""Per-cycle reference of the ``pipelined`` convention: one machine runs a whole sequence of
folds back to back, with shadow registers, and optionally gates its PEs in one pass. A GEMM's
folds (:class:`~accelsim.reference.folds.SequenceFold`) are cut by
:func:`~accelsim.reference.folds.gemm_folds`.

Like :mod:`accelsim.reference.array`, every cycle every register takes its neighbour's value
and each PE acts on the operands it holds; the cycle count is read off the machine's state
when the last result has left. The controller issues folds by the rule of the hardware it
models (documented in ``docs/timing.md``; :func:`~accelsim.reference.controller.controller_schedule`),
and the machine asserts, cycle by cycle, that no register is overwritten before it has been used:

* **output-stationary**: a PE that has taken the last step of a fold hands its accumulator to
  its shadow register in the next cycle, and starts the next fold from zero; each column's
  output port reads one shadow register per cycle. The controller starts fold j + 1 so that
  its results reach the ports no earlier than R cycles after fold j's:
  ``s[j+1] = s[j] + T[j] + max(0, R − T[j+1])``.
* **stationary-operand** (WS, IS): the next tile travels down a separate load chain (column
  c skewed by c, the last row first, so a column's R values land in its shadow registers in
  one cycle) while the current fold streams; a PE commits its shadow to its stationary
  register when the first token of the new fold reaches it. The load of tile j + 1 starts
  when fold j starts streaming (its shadow registers are then being committed, one
  wavefront ahead of the load), and fold j + 1 streams once its tile has landed:
  ``L[j+1] = max(L[j] + R, s[j])``, ``s[j+1] = max(s[j] + T[j], L[j+1] + R)``.

**One-pass gating.** A fold may tag each MAC as a *base* MAC of its output (its reduction
index lies on the output's base path) and give each output a decision. Base MACs go to a base
accumulator (OS) or a base partial-sum chain (WS, IS), the others to a second one, so an
output's base partial sum is exact whatever the order of the stream. When an output's last
base MAC has been accumulated (OS: in its PE; WS/IS: when the last partial sum holding one
leaves the array) its decision takes effect ``gate_latency`` + 1 cycles later: from then on a
PE skips the conditional MACs of an output that is off (clock-gated). The result is
``Yp + d·Yc``: exactly ``d·Y + (1 − d)·Yp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.arch.dataflow import Dataflow, get_dataflow
from accelsim.reference.array import shift_down, shift_right
from accelsim.reference.controller import controller_schedule
from accelsim.reference.folds import SequenceFold


@dataclass(frozen=True)
class SequenceResult:
    """What one sequence of folds produced."""

    base: np.ndarray  #: per global output: the sum of its base MACs (all MACs when untagged)
    conditional: np.ndarray  #: per global output: the sum of its conditional MACs that ran
    cycles: int  #: from the first cycle to the last result leaving the array
    pe_macs: int  #: MACs performed, padded lanes included, gated ones excluded
    useful_macs: int  #: MACs on two real operands that ran (not gated)
    gated_macs: int  #: MACs on two real operands that the gates skipped


class _Gates:
    """The decisions of the outputs and when each takes effect."""

    def __init__(self, outputs: int, decisions: np.ndarray | None, base_needed: np.ndarray | None,
                 latency: int) -> None:
        self.decisions = decisions
        self.base_needed = base_needed
        self.latency = latency
        self.base_done = np.zeros(outputs, dtype=np.int64)
        self.effective = np.full(outputs, np.iinfo(np.int64).max, dtype=np.int64)

    def gated_many(self, outputs: np.ndarray, is_base: np.ndarray, cycle: int) -> np.ndarray:
        """Per MAC: skipped (conditional, its output's gate off and known at ``cycle``)."""
        if self.decisions is None:
            return np.zeros(len(outputs), dtype=bool)
        safe = np.maximum(outputs, 0)
        return (outputs >= 0) & ~is_base & ~self.decisions[safe] & (cycle >= self.effective[safe])

    def base_accumulated_many(self, outputs: np.ndarray, cycle: int) -> None:
        """One base MAC of each of ``outputs`` (repeats allowed) accumulated at ``cycle``."""
        if self.decisions is None or len(outputs) == 0:
            return
        np.add.at(self.base_done, outputs, 1)
        touched = np.unique(outputs)
        if (self.base_done[touched] > self.base_needed[touched]).any():
            raise AssertionError("an output accumulated more base MACs than it has")
        done = touched[self.base_done[touched] == self.base_needed[touched]]
        self.effective[done] = cycle + 1 + self.latency


class _Stream:
    """Every fold's operands concatenated along time, so that a cycle's MACs are one gather:
    step ``t`` of fold ``j`` is global step ``offsets[j] + t``."""

    def __init__(self, folds: list[SequenceFold], stationary: bool) -> None:
        steps = [fold.second.shape[0] for fold in folds]
        self.offsets = np.concatenate([[0], np.cumsum(steps)[:-1]]).astype(np.int64)
        self.last_step = np.asarray(steps, dtype=np.int64) - 1
        self.second = np.concatenate([fold.second for fold in folds], axis=0)
        self.second_real = np.concatenate([fold.second_real for fold in folds], axis=0)
        if stationary:  # results are (step, column): one row per global step
            self.outputs = np.concatenate([fold.outputs for fold in folds], axis=0)
        else:
            self.first = np.concatenate([fold.first for fold in folds], axis=1)
            self.first_real = np.concatenate([fold.first_real for fold in folds], axis=1)
            self.outputs = np.stack([fold.outputs for fold in folds])
        self.tagged = any(fold.base is not None for fold in folds)
        if self.tagged:
            rows, cols = folds[0].first.shape[0], (folds[0].second.shape[1] if not stationary
                                                    else folds[0].first.shape[1])
            self.base = np.concatenate([fold.base if fold.base is not None
                                        else np.ones((fold.second.shape[0], rows, cols), dtype=bool)
                                        for fold in folds], axis=0)

    def is_base(self, g: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return self.base[g, rr, cc] if self.tagged else np.ones(len(g), dtype=bool)


def _lane_schedule(starts: list[int], steps: list[int], lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per lane and cycle: the fold and step entering that lane (−1: none). Lane ``i`` takes
    step ``t`` of fold ``j`` at cycle ``starts[j] + t + i``."""
    horizon = max(s + t for s, t in zip(starts, steps)) + lanes + 1
    fold = np.full((lanes, horizon), -1, dtype=np.int64)
    step = np.full((lanes, horizon), -1, dtype=np.int64)
    for j, (start, count) in enumerate(zip(starts, steps)):
        for lane in range(lanes):
            window = slice(start + lane, start + lane + count)
            if (fold[lane, window] >= 0).any():
                raise AssertionError(f"folds overlap on lane {lane}")
            fold[lane, window] = j
            step[lane, window] = np.arange(count)
    return fold, step


def output_stationary_sequence(folds: list[SequenceFold], rows: int, cols: int, outputs: int,
                               decisions: np.ndarray | None = None, base_needed: np.ndarray | None = None,
                               gate_latency: int = 0, spacing: str = "pipelined",
                               earliest=None) -> SequenceResult:
    """Run OS folds back to back on an R×C array with shadow accumulators (``spacing =
    "physical"``: each fold starts when the previous one would have drained alone)."""
    steps = [fold.second.shape[0] for fold in folds]
    _, starts = controller_schedule("os", steps, rows, cols, spacing, earliest)
    lane_fold, lane_step = _lane_schedule(starts, steps, max(rows, cols))
    gates = _Gates(outputs, decisions, base_needed, gate_latency)
    stream = _Stream(folds, stationary=False)
    dtype = np.result_type(*(fold.first for fold in folds), np.int64)
    base_sum = np.zeros(outputs, dtype=dtype)
    cond_sum = np.zeros(outputs, dtype=dtype)
    none = np.full((rows, cols), -1, dtype=np.int64)
    h_fold, h_step, v_fold, v_step = none.copy(), none.copy(), none.copy(), none.copy()
    acc_fold = none.copy()  # fold whose results the accumulators hold (−1: none)
    acc_last = np.zeros((rows, cols), dtype=bool)  # the accumulator has taken its fold's last step
    acc_base = np.zeros((rows, cols), dtype=dtype)
    acc_cond = np.zeros((rows, cols), dtype=dtype)
    shadow_fold = none.copy()
    shadow_base = np.zeros((rows, cols), dtype=dtype)
    shadow_cond = np.zeros((rows, cols), dtype=dtype)
    pending = sum(int(fold.outputs.size) for fold in folds)
    pe_macs = useful = gated_macs = 0
    cycle = last_read = 0
    while pending:
        if cycle < lane_fold.shape[1]:
            west_fold, west_step = lane_fold[:rows, cycle], lane_step[:rows, cycle]
            north_fold, north_step = lane_fold[:cols, cycle], lane_step[:cols, cycle]
        else:
            west_fold = west_step = np.full(rows, -1)
            north_fold = north_step = np.full(cols, -1)
        h_fold, h_step = shift_right(h_fold, west_fold), shift_right(h_step, west_step)
        v_fold, v_step = shift_down(v_fold, north_fold), shift_down(v_step, north_step)
        if not (np.array_equal(h_fold, v_fold) and np.array_equal(h_step, v_step)):
            raise AssertionError(f"OS operands out of step at cycle {cycle}")
        # a finished accumulator moves to its shadow register before anything else happens
        handing = acc_last & (acc_fold >= 0)
        if (handing & (shadow_fold >= 0)).any():
            raise AssertionError(f"a shadow register still held a result at cycle {cycle}")
        shadow_fold = np.where(handing, acc_fold, shadow_fold)
        shadow_base = np.where(handing, acc_base, shadow_base)
        shadow_cond = np.where(handing, acc_cond, shadow_cond)
        acc_fold = np.where(handing, -1, acc_fold)
        acc_last = acc_last & ~handing
        acc_base = np.where(handing, 0, acc_base)
        acc_cond = np.where(handing, 0, acc_cond)
        rr, cc = np.nonzero(h_fold >= 0)
        j, t = h_fold[rr, cc], h_step[rr, cc]
        if ((acc_fold[rr, cc] >= 0) & (acc_fold[rr, cc] != j)).any():
            raise AssertionError(f"a PE mixed folds at cycle {cycle}")
        acc_fold[rr, cc] = j
        g = stream.offsets[j] + t
        output = stream.outputs[j, rr, cc]
        is_base = stream.is_base(g, rr, cc)
        real = stream.first_real[rr, g] & stream.second_real[g, cc]
        gated = gates.gated_many(output, is_base, cycle)
        run = ~gated
        product = stream.first[rr, g] * stream.second[g, cc]
        acc_base[rr, cc] += np.where(run & is_base, product, 0)
        acc_cond[rr, cc] += np.where(run & ~is_base, product, 0)
        pe_macs += int(run.sum())
        useful += int((run & real).sum())
        gated_macs += int((gated & real).sum())
        if stream.tagged:
            gates.base_accumulated_many(output[run & is_base & real & (output >= 0)], cycle)
        acc_last[rr, cc] = t == stream.last_step[j]
        # each column's output port reads one result: the oldest fold's, top row first
        for c in range(cols):
            held = np.flatnonzero(shadow_fold[:, c] >= 0)
            if len(held) == 0:
                continue
            r = held[np.lexsort((held, shadow_fold[held, c]))[0]]
            output = int(folds[shadow_fold[r, c]].outputs[r, c])
            if output >= 0:
                base_sum[output] += shadow_base[r, c]
                cond_sum[output] += shadow_cond[r, c]
            shadow_fold[r, c] = -1
            pending -= 1
            last_read = cycle
        cycle += 1
        if cycle > 10 * (lane_fold.shape[1] + rows + cols + 10):
            raise AssertionError("the sequence never finished")
    return SequenceResult(base_sum, cond_sum, last_read + 1, pe_macs, useful, gated_macs)


def stationary_operand_sequence(folds: list[SequenceFold], rows: int, cols: int, outputs: int,
                                decisions: np.ndarray | None = None, base_needed: np.ndarray | None = None,
                                gate_latency: int = 0, spacing: str = "pipelined",
                                earliest=None) -> SequenceResult:
    """Run WS/IS folds back to back on an R×C array with shadow stationary registers
    (``spacing = "physical"``: each tile loads when the previous fold has drained)."""
    steps = [fold.second.shape[0] for fold in folds]
    loads, starts = controller_schedule("ws", steps, rows, cols, spacing, earliest)
    lane_fold, lane_step = _lane_schedule(starts, steps, rows)
    gates = _Gates(outputs, decisions, base_needed, gate_latency)
    dtype = np.result_type(*(fold.first for fold in folds), np.int64)
    base_sum = np.zeros(outputs, dtype=dtype)
    cond_sum = np.zeros(outputs, dtype=dtype)
    none = np.full((rows, cols), -1, dtype=np.int64)
    # the load chain: value, destination row and tile of each register
    chain_val = np.zeros((rows, cols), dtype=dtype)
    chain_row, chain_fold = none.copy(), none.copy()
    chain_real = np.zeros((rows, cols), dtype=bool)
    shadow_val = np.zeros((rows, cols), dtype=dtype)
    shadow_real = np.zeros((rows, cols), dtype=bool)
    shadow_fold = none.copy()
    shadow_used = np.ones((rows, cols), dtype=bool)  # committed (or empty): free to overwrite
    active_val = np.zeros((rows, cols), dtype=dtype)
    active_real = np.zeros((rows, cols), dtype=bool)
    active_fold = none.copy()
    h_fold, h_step = none.copy(), none.copy()
    p_fold, p_step = none.copy(), none.copy()  # tags of the partial sums each PE passes down
    p_base = np.zeros((rows, cols), dtype=dtype)
    p_cond = np.zeros((rows, cols), dtype=dtype)
    p_count = np.zeros((rows, cols), dtype=np.int64)  # base MACs inside the base partial sum
    remaining = sum(int(fold.outputs.size) for fold in folds)
    pe_macs = useful = gated_macs = 0
    cycle = last_out = 0
    load_starts = np.asarray(loads, dtype=np.int64)
    if (np.diff(load_starts) < rows).any():
        raise AssertionError("two tiles load one column at once")
    stream = _Stream(folds, stationary=True)
    while remaining:
        # 1. streamed operands move right, partial sums move down
        if cycle < lane_fold.shape[1]:
            west_fold, west_step = lane_fold[:, cycle], lane_step[:, cycle]
        else:
            west_fold = west_step = np.full(rows, -1)
        h_fold, h_step = shift_right(h_fold, west_fold), shift_right(h_step, west_step)
        in_fold, in_step = shift_down(p_fold, h_fold[0]), shift_down(p_step, h_step[0])
        in_base = shift_down(p_base, np.zeros(cols, dtype=dtype))
        in_cond = shift_down(p_cond, np.zeros(cols, dtype=dtype))
        in_count = shift_down(p_count, np.zeros(cols, dtype=np.int64))
        if not (np.array_equal(in_fold, h_fold) and np.array_equal(in_step, h_step)):
            raise AssertionError(f"partial sums out of step at cycle {cycle}")
        # 2. PEs commit a new tile when its first token arrives, then multiply and accumulate
        p_fold, p_step = h_fold.copy(), h_step.copy()
        p_base, p_cond, p_count = np.zeros_like(in_base), np.zeros_like(in_cond), np.zeros_like(in_count)
        rr, cc = np.nonzero(h_fold >= 0)
        j, t = h_fold[rr, cc], h_step[rr, cc]
        committing = active_fold[rr, cc] != j
        if committing.any():
            cr, ccol, cj = rr[committing], cc[committing], j[committing]
            if ((shadow_fold[cr, ccol] != cj) | shadow_used[cr, ccol]).any():
                raise AssertionError(f"a PE found no tile to commit at cycle {cycle}")
            active_val[cr, ccol], active_real[cr, ccol] = shadow_val[cr, ccol], shadow_real[cr, ccol]
            active_fold[cr, ccol] = cj
            shadow_used[cr, ccol] = True
        g = stream.offsets[j] + t
        output = stream.outputs[g, cc]
        is_base = stream.is_base(g, rr, cc)
        real = active_real[rr, cc] & stream.second_real[g, rr]
        gated = gates.gated_many(output, is_base, cycle)
        run = ~gated
        product = stream.second[g, rr] * active_val[rr, cc]
        p_base[rr, cc] = in_base[rr, cc] + np.where(run & is_base, product, 0)
        p_cond[rr, cc] = in_cond[rr, cc] + np.where(run & ~is_base, product, 0)
        p_count[rr, cc] = in_count[rr, cc] + (run & is_base & real & stream.tagged)
        pe_macs += int(run.sum())
        useful += int((run & real).sum())
        gated_macs += int((gated & real).sum())
        # partial sums leaving the bottom row are results
        for c in np.flatnonzero(p_fold[-1] >= 0):
            j, t = int(p_fold[-1, c]), int(p_step[-1, c])
            output = int(folds[j].outputs[t, c])
            if output >= 0:
                base_sum[output] += p_base[-1, c]
                cond_sum[output] += p_cond[-1, c]
                gates.base_accumulated_many(np.full(int(p_count[-1, c]), output), cycle)
            remaining -= 1
            last_out = cycle
        # 3. the load chain shifts; values that reach their row land in the shadow registers
        since = cycle - np.arange(cols)  # column c's load runs c cycles late
        tile = np.searchsorted(load_starts, since, side="right") - 1
        offset = since - load_starts[np.maximum(tile, 0)]
        loading = (tile >= 0) & (offset >= 0) & (offset < rows)
        destination = np.where(loading, rows - 1 - offset, -1)
        entering_val = np.zeros(cols, dtype=dtype)
        entering_real = np.zeros(cols, dtype=bool)
        for c in np.flatnonzero(loading):
            entering_val[c] = folds[tile[c]].first[destination[c], c]
            entering_real[c] = folds[tile[c]].first_real[destination[c], c]
        entering_row = destination
        entering_fold = np.where(loading, tile, -1)
        chain_val, chain_row = shift_down(chain_val, entering_val), shift_down(chain_row, entering_row)
        chain_fold, chain_real = shift_down(chain_fold, entering_fold), shift_down(chain_real, entering_real)
        landing = (chain_row >= 0) & (chain_row == np.arange(rows)[:, None])
        if (landing & ~shadow_used).any():
            raise AssertionError(f"a tile overwrote a shadow register not yet committed at cycle {cycle}")
        shadow_val = np.where(landing, chain_val, shadow_val)
        shadow_real = np.where(landing, chain_real, shadow_real)
        shadow_fold = np.where(landing, chain_fold, shadow_fold)
        shadow_used = shadow_used & ~landing
        chain_row = np.where(landing, -1, chain_row)
        cycle += 1
        if cycle > 10 * (lane_fold.shape[1] + 2 * rows + cols + 10):
            raise AssertionError("the sequence never finished")
    return SequenceResult(base_sum, cond_sum, last_out + 1, pe_macs, useful, gated_macs)


def run_sequence(folds: list[SequenceFold], dataflow: str | Dataflow, rows: int, cols: int, outputs: int,
                 decisions: np.ndarray | None = None, base_needed: np.ndarray | None = None,
                 gate_latency: int = 0, spacing: str = "pipelined", earliest=None) -> SequenceResult:
    """Run ``folds`` as one sequence on the machine of ``dataflow``; ``spacing = "physical"``
    spaces them as the ``physical`` convention does (to check what happens inside folds);
    ``earliest`` holds folds back (:func:`~accelsim.reference.controller.controller_schedule`)."""
    machine = (output_stationary_sequence if get_dataflow(dataflow).drains_accumulators
               else stationary_operand_sequence)
    return machine(folds, rows, cols, outputs, decisions, base_needed, gate_latency, spacing, earliest)
