"""Gated layers on the per-cycle reference array: every scheduler's plan, executed cycle by
cycle, takes the fast model's cycles and computes d·Y + (1 − d)·Yp exactly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim import DEFAULT_CONFIG, Layer
from accelsim.reference import execute_on_reference
from accelsim.schedule import SCHEDULERS, GateGeometry, LayerGates, get_scheduler
from accelsim.trace import as_trace_layer
from accelsim.engine import simulate as time_plans
from tiers import examples

DATAFLOWS = ["os", "ws", "is"]
SCHEDULER_NAMES = SCHEDULERS.names()
#: the two-pass schedules as defined, one fold after another
TWO_PASS = DEFAULT_CONFIG.replace(timing="physical", fallback="off")


@st.composite
def gated_cases(draw):
    groups = draw(st.integers(1, 4))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = draw(st.sampled_from([1, 3]))
    size = draw(st.integers(kernel, 5))
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rate = draw(st.sampled_from([0.0, 0.1, 0.4, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return groups, in_channels, out_channels, kernel, size, rows, cols, rate, seed


def expected_output(a, w, d, groups):
    """d·Y + (1 − d)·Yp with Yp over each output group's own input group, by numpy alone."""
    k_base = a.shape[1] // groups
    n_group = w.shape[1] // groups
    partial = np.zeros((a.shape[0], w.shape[1]), dtype=np.int64)
    for g in range(groups):
        ks, ns = slice(g * k_base, (g + 1) * k_base), slice(g * n_group, (g + 1) * n_group)
        partial[:, ns] = a[:, ks] @ w[ks, ns]
    return np.where(d, a @ w, partial)


def check(dataflow, scheduler_name, case):
    groups, cin, cout, kernel, size, rows, cols, rate, seed = case
    layer = Layer.conv("g", cin, cout, size, kernel, padding=kernel // 2)
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = rng.random((cout, layer.out_h, layer.out_w)) < rate
    calibration = rng.random((3, cout, layer.out_h, layer.out_w)) < rate
    d = decisions.reshape(cout, -1).T
    config = DEFAULT_CONFIG.replace(array_rows=rows, array_cols=cols, dataflow=dataflow)
    gates = LayerGates(as_trace_layer(layer, groups), decisions, calibration)
    plan = get_scheduler(scheduler_name, timer=time_plans).plan(layer, config, gates)

    output, cycles, executed = execute_on_reference(plan, a, w, d, config)

    assert cycles == plan.cycles
    if plan.path == "one-pass":  # clock-gated MACs counted by the closed form and by the machine
        assert executed == plan.macs_executed
        assert plan.cycles == get_scheduler("dense", timer=time_plans).plan(layer, config).cycles
    else:  # every MAC of a fold that runs is on real operands; off outputs of a two-pass fold idle
        assert executed == plan.macs
    if scheduler_name == "clock-gate":
        assert plan.path == "one-pass"
    if scheduler_name == "dense":
        np.testing.assert_array_equal(output, a @ w)
        assert plan.needed_macs == layer.macs
    else:
        np.testing.assert_array_equal(output, expected_output(a, w, d, groups))
        k_base = layer.K // groups
        assert plan.needed_macs == layer.M * cout * k_base + int(d.sum()) * (layer.K - k_base)
    assert plan.macs >= plan.needed_macs


@pytest.mark.parametrize("scheduler_name", SCHEDULER_NAMES)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(80), deadline=None)  # 1,000 in the slow set, below
@given(case=gated_cases())
def test_gated_plans_on_the_reference_array(dataflow, scheduler_name, case):
    check(dataflow, scheduler_name, case)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler_name", SCHEDULER_NAMES)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(1000), deadline=None)
@given(case=gated_cases())
def test_gated_plans_on_the_reference_array_thoroughly(dataflow, scheduler_name, case):
    check(dataflow, scheduler_name, case)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(50), deadline=None)
@given(case=gated_cases())
def test_skipping_never_costs_more_than_running(dataflow, case):
    """In two passes, pixel-skip ≤ tile-skip ≤ running every conditional fold, in cycles."""
    groups, cin, cout, kernel, size, rows, cols, rate, seed = case
    layer = Layer.conv("g", cin, cout, size, kernel, padding=kernel // 2)
    decisions = np.random.default_rng(seed).random((cout, layer.out_h, layer.out_w)) < rate
    config = TWO_PASS.replace(array_rows=rows, array_cols=cols, dataflow=dataflow)
    gates = LayerGates(as_trace_layer(layer, groups), decisions)
    cycles = {name: get_scheduler(name, timer=time_plans).two_pass_plan(GateGeometry(layer, config, gates)).cycles
              for name in ("clock-gate", "tile-skip", "pixel-skip")}
    assert cycles["pixel-skip"] <= cycles["tile-skip"] <= cycles["clock-gate"]


def expected_cycles(scheduler_name, layer, groups, d, rows, cols, dataflow, latency):
    """Cycles of a two-pass gated layer under ``physical`` from the schedulers' definitions
    alone (docs/schedulers.md): base pass per group, then, after the gate latency, per channel
    set the conditional folds each scheduler issues."""
    m, n, k = layer.M, layer.N, layer.K
    k_base, n_group = k // groups, n // groups
    k_cond = k - k_base

    def fold(steps):
        return 2 * rows + cols + steps - 2

    def ceil(a, b):
        return -(-a // b)

    layout = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}[dataflow]

    def gemm(mm, nn, kk):
        extent = {"M": mm, "N": nn, "K": kk}
        return ceil(extent[layout[0]], rows) * ceil(extent[layout[1]], cols) * fold(extent[layout[2]])

    total = groups * gemm(m, n_group, k_base)
    if k_cond == 0:
        return total
    base_only = total
    set_size = {"os": cols, "ws": cols, "is": n_group}[dataflow]
    for g in range(groups):
        for start in range(0, n_group, set_size):
            channels = list(range(g * n_group + start, g * n_group + min(start + set_size, n_group)))
            active = d[:, channels].any(axis=1)
            if scheduler_name == "clock-gate":
                pixels = m
            elif scheduler_name == "pixel-skip":
                pixels = int(active.sum())
            else:  # tile-skip: whole pixel tiles, kept if anything in them is on
                tile = {"os": rows, "ws": m, "is": cols}[dataflow]
                pixels = sum(len(active[start:start + tile]) for start in range(0, m, tile)
                             if active[start:start + tile].any())
            if pixels:
                total += gemm(pixels, len(channels), k_cond)
    return total + (latency if total > base_only else 0)


@pytest.mark.parametrize("scheduler_name", ["clock-gate", "tile-skip", "pixel-skip"])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(150), deadline=None)
@given(case=gated_cases())
def test_cycles_follow_the_scheduler_definitions(dataflow, scheduler_name, case):
    """An independent count, so that extra work (not only missing work) is caught."""
    groups, cin, cout, kernel, size, rows, cols, rate, seed = case
    layer = Layer.conv("g", cin, cout, size, kernel, padding=kernel // 2)
    decisions = np.random.default_rng(seed).random((cout, layer.out_h, layer.out_w)) < rate
    config = TWO_PASS.replace(array_rows=rows, array_cols=cols, dataflow=dataflow, gate_latency_cycles=seed % 5)
    gates = LayerGates(as_trace_layer(layer, groups), decisions)
    plan = get_scheduler(scheduler_name, timer=time_plans).two_pass_plan(GateGeometry(layer, config, gates))
    d = decisions.reshape(cout, -1).T
    assert plan.cycles == expected_cycles(scheduler_name, layer, groups, d, rows, cols, dataflow, seed % 5)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(50), deadline=None)
@given(case=gated_cases())
def test_the_oracle_is_never_worse_than_pixel_skip(dataflow, case):
    groups, cin, cout, kernel, size, rows, cols, rate, seed = case
    layer = Layer.conv("g", cin, cout, size, kernel, padding=kernel // 2)
    decisions = np.random.default_rng(seed).random((cout, layer.out_h, layer.out_w)) < rate
    config = TWO_PASS.replace(array_rows=rows, array_cols=cols, dataflow=dataflow)
    gates = LayerGates(as_trace_layer(layer, groups), decisions)
    assert (get_scheduler("balanced-oracle", timer=time_plans).plan(layer, config, gates).cycles
            <= get_scheduler("pixel-skip", timer=time_plans).plan(layer, config, gates).cycles)
