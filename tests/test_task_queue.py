"""The task-queue scheduler on a sliced array: the slice clock follows the controller rule,
the SimPy engine replays the closed-form dispatch, and the per-cycle reference of P slices fed
by the queue takes the plan's cycles and computes d·Y + (1 − d)·Yp exactly."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accelsim import DEFAULT_CONFIG, Layer, engine, get_network, open_trace, run
from accelsim.arch import fold_cycles, sequence_cycles
from accelsim.reference.controller import controller_starts
from accelsim.config import DISPATCH_POLICIES
from accelsim.report import LOST_COLUMNS, layer_rows
from accelsim.reference import execute_on_reference
from accelsim.schedule import LayerGates, get_scheduler
from accelsim.schedule.plan import PHASE_CONDITIONAL
from accelsim.arch.machine import SliceClock, dispatch
from accelsim.trace import as_trace_layer
from accelsim.engine import simulate as time_plans
from tiers import examples

from test_gated_reference import expected_output

DATAFLOWS = ["os", "ws", "is"]
TIMINGS = ["pipelined", "physical", "scalesim"]


# --- the slice clock -------------------------------------------------------------------------

def controller_rule(dataflow, steps, rows):
    """Start of each fold under the ``pipelined`` controller, fold by fold (docs/timing.md)."""
    starts = []
    if dataflow == "os":
        for j, t in enumerate(steps):
            starts.append(0 if j == 0 else starts[-1] + steps[j - 1] + max(0, rows - t))
        return starts
    load = 0
    for j in range(len(steps)):
        if j:
            load = max(load + rows, starts[-1])
        starts.append(load + rows if j == 0 else max(starts[-1] + steps[j - 1], load + rows))
    return starts


@st.composite
def fold_lists(draw):
    """Runs of identical folds (``(count, T)``, some empty) on an R × C slice from some origin."""
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    runs = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 24)), min_size=1, max_size=6))
    return rows, cols, runs, draw(st.integers(0, 1000))


def check_clock(dataflow, timing, case):
    rows, cols, runs, origin = case
    config = DEFAULT_CONFIG.replace(array_rows=rows, array_cols=cols, dataflow=dataflow, timing=timing)
    clock = SliceClock(config, origin)
    steps = []
    for count, t in runs:
        clock.issue(count, t, ready=0)
        steps += [t] * count
        if not steps:
            assert clock.free == clock.end == origin
            continue
        if timing == "pipelined":
            starts = controller_rule(dataflow, steps, rows)
            assert starts == controller_starts(dataflow, steps, rows, cols)
            assert clock.free == origin + starts[-1] + steps[-1]
            assert clock.end == origin + sequence_cycles(dataflow, rows, cols, steps, timing)
        else:  # every fold alone, one after another
            alone = sum(int(fold_cycles(dataflow, rows, cols, t, timing)) for t in steps)
            assert clock.free == clock.end == origin + alone


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(300), deadline=None)
@given(case=fold_lists())
def test_the_slice_clock_follows_the_controller_rule(dataflow, case):
    check_clock(dataflow, "pipelined", case)


@pytest.mark.parametrize("timing", ["physical", "scalesim"])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(50), deadline=None)
@given(case=fold_lists())
def test_the_slice_clock_runs_folds_alone_under_other_timings(dataflow, timing, case):
    check_clock(dataflow, timing, case)


# --- gated layers on a sliced array ----------------------------------------------------------

@st.composite
def slicings(draw, rows, cols, least=1):
    """``array_slices`` and ``slice_rows`` of an R × C array: column slices of all R rows
    (``slice_rows`` 0), or bands of fewer rows, each split into columns."""
    height = draw(st.sampled_from([0] * 2 + [r for r in range(1, rows) if rows % r == 0]))
    bands = rows // (height or rows)
    slices = draw(st.sampled_from([bands * p for p in range(1, cols + 1) if cols % p == 0 and bands * p >= least]))
    return {"array_slices": slices, "slice_rows": height}


@st.composite
def sliced_cases(draw):
    """A tiny gated conv layer, its gates, and a sliced array with its queue."""
    groups = draw(st.integers(1, 3))
    kernel = draw(st.sampled_from([1, 3]))
    in_channels = groups * draw(st.integers(1, 2 if kernel == 1 else 1))  # K ≤ 27
    out_channels = groups * draw(st.integers(1, 3 if groups < 3 else 2))
    size = draw(st.integers(3, 5))
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    queue = dict(array_rows=rows, array_cols=cols, **draw(slicings(rows, cols)), queue_depth_tasks=draw(st.integers(1, 8)),
                 dispatch=draw(st.sampled_from(DISPATCH_POLICIES)), gate_latency_cycles=draw(st.integers(0, 4)),
                 task_folds=draw(st.integers(0, 2)), task_generation_cycles=draw(st.sampled_from([0, 1, 3])),
                 queue_refill_cycles=draw(st.sampled_from([0, 1, 5])),
                 # partial sums that fit the ofmap SRAM, or only a window of a few tiles of them
                 ofmap_sram_kib=draw(st.sampled_from([64.0, 0.25, 0.0625])))
    # uniform decisions, or rates per channel or per pixel: tasks of very different lengths
    rate = draw(st.sampled_from([0.0, 0.1, 0.4, 0.9, 1.0, "channels", "pixels"]))
    return groups, in_channels, out_channels, kernel, size, queue, rate, draw(st.integers(0, 2**32 - 1))


@st.composite
def uneven_cases(draw):
    """Many cheap tasks of uneven lengths on two or more slices: where the queue's choices
    matter. Kernel 1, one input channel per group, rates per channel or per pixel."""
    groups = draw(st.integers(2, 3))
    size = draw(st.integers(3, 5))
    rows, cols = draw(st.integers(1, 4)), draw(st.sampled_from([2, 4, 6, 3]))
    queue = dict(array_rows=rows, array_cols=cols, **draw(slicings(rows, cols, least=2)),
                 queue_depth_tasks=draw(st.integers(1, 8)), dispatch=draw(st.sampled_from(DISPATCH_POLICIES)),
                 gate_latency_cycles=draw(st.integers(0, 4)), task_folds=draw(st.integers(0, 2)),
                 task_generation_cycles=draw(st.sampled_from([0, 1, 3])), queue_refill_cycles=draw(st.sampled_from([0, 1, 5])))
    rate = draw(st.sampled_from(["channels", "pixels"]))
    return groups, groups, groups * draw(st.integers(2, 6)), 1, size, queue, rate, draw(st.integers(0, 2**32 - 1))


def random_decisions(rng, shape, rate):
    """Bool ``shape`` (channels, height, width): on at ``rate``, or at a rate drawn per channel
    or per pixel among 0, 5 %, 50 % and 1."""
    if rate == "channels":
        rate = rng.choice([0.0, 0.05, 0.5, 1.0], size=shape[-3])[:, None, None]
    elif rate == "pixels":
        rate = rng.choice([0.0, 0.05, 0.5, 1.0], size=shape[-2:])
    return rng.random(shape) < rate


def make_plan(case, dataflow, **changes):
    """The layer's operands, decisions (M × N) and task-queue plan; its config."""
    groups, cin, cout, kernel, size, queue, rate, seed = case
    layer = Layer.conv("g", cin, cout, size, kernel, padding=kernel // 2)
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = random_decisions(rng, (cout, layer.out_h, layer.out_w), rate)
    calibration = random_decisions(rng, (3, cout, layer.out_h, layer.out_w), rate)
    config = DEFAULT_CONFIG.replace(dataflow=dataflow, fallback="off", **{**queue, **changes})
    gates = LayerGates(as_trace_layer(layer, groups), decisions, calibration)
    plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, gates)
    assert plan.sliced is not None
    return plan, a, w, decisions.reshape(cout, -1).T, config


def engine_cycles(plan, config):
    """The engine's count of a layer."""
    (layer,) = engine.simulate([plan], config)
    return layer.cycles_total


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=st.one_of(sliced_cases(), uneven_cases()), timing=st.sampled_from(TIMINGS))
def test_a_band_of_slices_runs_as_an_array_of_its_rows(dataflow, case, timing):
    """Slices of r rows cut from an R × C array run as the slices of an r × (R·C/r) array do:
    the same folds and cycles. (The reference reads a slice's shape from the config as the
    closed form does; this compares against slices whose shape no band decides.)"""
    plan, _, _, _, config = make_plan(case, dataflow, timing=timing)
    assume(config.slice_rows)
    rows, cols = config.rows_per_slice, config.array_rows * config.array_cols // config.rows_per_slice
    flat, *_ = make_plan(case, dataflow, timing=timing, array_rows=rows, array_cols=cols, slice_rows=0)
    assert (flat.runs == plan.runs).all() and len(flat.runs) == len(plan.runs)
    assert flat.cycles == plan.cycles


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(50), deadline=None)
@given(case=st.one_of(sliced_cases(), uneven_cases()), timing=st.sampled_from(TIMINGS),
       bandwidth=st.sampled_from([0.25, 2.0, 64.0]), latency=st.sampled_from([0, 7, 100]),
       sram=st.sampled_from([0.0625, 1.0, 64.0]))
def test_memory_only_slows_the_slices(dataflow, case, timing, bandwidth, latency, sram):
    """A finite DRAM shared by the slices never makes a layer faster than its plan."""
    plan, _, _, _, config = make_plan(case, dataflow, timing=timing, dram_bandwidth_bytes_per_cycle=bandwidth,
                                      dram_latency_cycles=latency, ifmap_sram_kib=sram, filter_sram_kib=sram,
                                      ofmap_sram_kib=sram)
    assert engine_cycles(plan, config) >= plan.cycles


def check_reference(dataflow, case, **changes):
    plan, a, w, d, config = make_plan(case, dataflow, **changes)
    output, cycles, executed = execute_on_reference(plan, a, w, d, config)
    assert cycles == plan.cycles
    np.testing.assert_array_equal(output, expected_output(a, w, d, case[0]))
    assert executed == plan.macs
    assert plan.macs >= plan.needed_macs


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(200), deadline=None)
@given(case=sliced_cases())
def test_task_queue_plans_on_the_sliced_reference(dataflow, case):
    check_reference(dataflow, case)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(50), deadline=None)
@given(case=uneven_cases())
def test_the_queue_on_uneven_tasks_on_the_sliced_reference(dataflow, case):
    check_reference(dataflow, case)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(1000), deadline=None)
@given(case=sliced_cases())
def test_task_queue_plans_on_the_sliced_reference_thoroughly(dataflow, case):
    check_reference(dataflow, case)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(1000), deadline=None)
@given(case=uneven_cases())
def test_the_queue_on_uneven_tasks_on_the_sliced_reference_thoroughly(dataflow, case):
    check_reference(dataflow, case)


@pytest.mark.parametrize("timing", ["physical", "scalesim"])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(12), deadline=None)
@given(case=sliced_cases())
def test_task_queue_plans_on_the_sliced_reference_under_other_timings(dataflow, timing, case):
    """Each fold alone on the per-fold machine, one after another on its slice."""
    check_reference(dataflow, case, timing=timing)


# --- dispatch policies -----------------------------------------------------------------------

def policy_cycles(dataflow, depth, policy):
    """A layer whose conditional tasks are short but for the last of each group (OS, WS: one
    channel on everywhere; IS: one pixel on in every channel), on two one-column slices, a task
    per set: its cycles on the reference, which must be the plan's."""
    layer = Layer.conv("g", 2, 8, 4, 1)
    rng = np.random.default_rng(0)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = np.zeros((8, 4, 4), dtype=bool)
    decisions[[3, 7]] = True
    decisions[:, 3, 3] = True
    config = DEFAULT_CONFIG.replace(array_rows=1, array_cols=2, array_slices=2, dataflow=dataflow, fallback="off",
                                    queue_depth_tasks=depth, dispatch=policy, task_folds=0,
                                    dispatch_latency_cycles=0)  # the policy's effect alone: these tasks are tiny
    plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, LayerGates(as_trace_layer(layer, 2), decisions))
    lengths = [task.periods for task in plan.sliced.phases[0] if task.item.phase == PHASE_CONDITIONAL]
    assert max(lengths) >= 4 * min(lengths)
    d = decisions.reshape(8, -1).T
    output, cycles, _ = execute_on_reference(plan, a, w, d, config)
    np.testing.assert_array_equal(output, expected_output(a, w, d, 2))
    assert cycles == plan.cycles
    return cycles


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_longest_first_beats_in_order_on_uneven_tasks(dataflow):
    for depth in (4, 8, 16):
        assert policy_cycles(dataflow, depth, "longest-first") < policy_cycles(dataflow, depth, "in-order")
    # a queue of one entry leaves no choice
    assert policy_cycles(dataflow, 1, "longest-first") == policy_cycles(dataflow, 1, "in-order")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_a_conditional_task_waits_for_its_sets_decisions(dataflow):
    """Two one-column slices (OS, WS: two channel sets; IS: eight pixel sets): each set's
    conditional tasks wait for its base task, and may not start before that task's last
    result and the gate latency; with every output on, conditional tasks end the layer, so
    the plan and the reference take longer (by exactly the latency where nothing else can run)."""
    layer = Layer.conv("g", 8, 2, 4, 1)  # 16 pixels, 2 channels, a gate group each
    rng = np.random.default_rng(2)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = np.ones((2, 4, 4), dtype=bool)
    cycles = []
    for latency in (0, 37):
        config = DEFAULT_CONFIG.replace(array_rows=4, array_cols=2, array_slices=2, dataflow=dataflow,
                                        fallback="off", gate_latency_cycles=latency, task_folds=0,
                                        dispatch_latency_cycles=0)  # the gate's latency alone
        plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, LayerGates(as_trace_layer(layer, 2), decisions))
        (phase,) = plan.sliced.phases
        waits = [(number, task.after) for number, task in enumerate(phase) if task.item.phase == PHASE_CONDITIONAL]
        assert waits and all(0 <= base < number and phase[base].item.phase != PHASE_CONDITIONAL
                             for number, base in waits)
        d = decisions.reshape(2, -1).T
        output, reference_cycles, _ = execute_on_reference(plan, a, w, d, config)
        np.testing.assert_array_equal(output, expected_output(a, w, d, 2))
        assert reference_cycles == plan.cycles
        cycles.append(plan.cycles)
    if dataflow == "is":  # eight sets on two slices: other sets' tasks fill some of the wait
        assert cycles[1] > cycles[0]
    else:
        assert cycles[1] - cycles[0] == 37


# --- attribution -----------------------------------------------------------------------------

@pytest.mark.parametrize("dataflow, slices, rows, dispatch", [
    ("os", 4, 0, "longest-first"), ("ws", 2, 0, "in-order"), ("is", 2, 0, "longest-first"),
    ("os", 4, 4, "in-order"), ("is", 8, 2, "longest-first")])
def test_attribution_adds_up_on_a_sliced_array(small_trace, dataflow, slices, rows, dispatch):
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dataflow=dataflow, array_slices=slices,
                                    slice_rows=rows, dispatch=dispatch, queue_depth_tasks=4)
    with open_trace(small_trace) as trace:
        layers = run(get_network("resnet20"), config, ["task-queue"], trace, images=slice(0, 1),
                     calibration=slice(0, 2)).layers
    layers = layers[layers["scheduler"] == "task-queue"]
    parts = layers["cycles_ideal"] + layers[list(LOST_COLUMNS)].sum(axis=1)
    np.testing.assert_allclose(parts, layers["cycles_total"], rtol=1e-9, atol=1e-6)
    assert (layers["lost_imbalance"] >= -1e-9).all()
    assert (layers["path"] == "two-pass").any() and (layers["lost_imbalance"] > 0).any()
    # a fold occupies one slice: no more PEs hold work than the slice has
    assert layers["mapping_efficiency"].between(0, 1).all()


@pytest.mark.parametrize("slices, rows", [(8, 0), (16, 4)])
def test_full_slice_folds_map_every_pe_of_their_slice(slices, rows):
    """All gates on, 16 pixels on 8 × 1 or 4 × 1 slices: every fold fills its slice, so the
    mapping efficiency is 1 (a fold occupies one slice, not the whole array)."""
    layer = Layer.conv("g", 4, 8, 4, 1)  # M = 16 pixels, 8 channels
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, array_slices=slices, slice_rows=rows,
                                    fallback="off", dram_bandwidth_bytes_per_cycle=math.inf)
    gates = LayerGates(as_trace_layer(layer, 2), np.ones((8, 4, 4), dtype=bool))
    plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, gates)
    assert plan.sliced is not None and plan.path == "two-pass"
    (row,) = layer_rows("n", 0, [plan], engine.simulate([plan], config), config)
    assert row["mapping_efficiency"] == 1.0


# --- windows and task size -------------------------------------------------------------------

def windowed_layer(dataflow, ofmap_kib, **changes):
    """A gated layer of 64 pixels × 8 channels on two 4 × 2 slices (its partial sums: 2 KiB)."""
    layer = Layer.conv("g", 2, 8, 8, 1)
    rng = np.random.default_rng(1)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = rng.random((8, 8, 8)) < 0.4
    config = DEFAULT_CONFIG.replace(array_rows=4, array_cols=4, array_slices=2, dataflow=dataflow, fallback="off",
                                    ofmap_sram_kib=ofmap_kib, dram_bandwidth_bytes_per_cycle=4.0, **changes)
    plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, LayerGates(as_trace_layer(layer, 2), decisions))
    return plan, a, w, decisions.reshape(8, -1).T, config


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_partial_sums_that_do_not_fit_run_in_windows_that_do(dataflow):
    """With 1 KiB of ofmap SRAM (512 B a half: 16 pixels' partial sums) the layer runs in
    windows of whole tiles whose partial sums fit, so none goes to DRAM; the reference agrees."""
    whole, *_ = windowed_layer(dataflow, 4.0)
    plan, a, w, d, config = windowed_layer(dataflow, 1.0)
    assert {task.window for task in whole.sliced.phases[0]} == {0} and whole.sliced.held_outputs == 64 * 8
    assert len({task.window for task in plan.sliced.phases[0]}) > 1 and plan.sliced.held_outputs * 4 <= 512
    assert plan.macs == whole.macs and plan.needed_macs == whole.needed_macs
    dram = ("dram_read_bytes", "dram_write_bytes")
    def traffic_of(plan, config):
        (timing,) = engine.simulate([plan], config)
        return timing.traffic

    traffic = traffic_of(plan, config)
    fitting = traffic_of(whole, config.replace(ofmap_sram_kib=4.0))
    spilled = traffic_of(whole, config)  # the whole layer's plan on this SRAM
    for name in dram:
        assert traffic[name] == fitting[name] < spilled[name]
    output, cycles, _ = execute_on_reference(plan, a, w, d, config)
    np.testing.assert_array_equal(output, expected_output(a, w, d, 2))
    assert cycles == plan.cycles


def test_finer_tasks_balance_the_slices():
    """One channel on everywhere, the others nowhere but one pixel: a task per set leaves one
    slice with the long task; tasks of one row tile spread it (on the reference too)."""
    layer = Layer.conv("g", 2, 8, 8, 1)
    decisions = np.zeros((8, 8, 8), dtype=bool)
    decisions[3] = True
    decisions[:, 0, 0] = True
    rng = np.random.default_rng(2)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    d = decisions.reshape(8, -1).T
    cycles, needed = {}, {}
    for folds in (0, 1):
        config = DEFAULT_CONFIG.replace(array_rows=4, array_cols=4, array_slices=4, fallback="off", task_folds=folds)
        plan = get_scheduler("task-queue", timer=time_plans).plan(layer, config, LayerGates(as_trace_layer(layer, 2), decisions))
        output, cycles[folds], _ = execute_on_reference(plan, a, w, d, config)
        needed[folds] = plan.needed_macs
        np.testing.assert_array_equal(output, expected_output(a, w, d, 2))
        assert cycles[folds] == plan.cycles
    assert cycles[1] < cycles[0]
    # the base pass for every output and the conditional work of the 64 + 7 outputs on
    assert needed[0] == needed[1] == 64 * 8 * 1 + (64 + 7) * 1


def test_every_slice_takes_a_task_before_any_takes_a_second():
    """One-fold tasks start as they are taken, so their slice may take again at once: the idle
    slices take first (closed form, and the reference's queue)."""
    from accelsim.reference.sliced import queue_order
    from accelsim.schedule.plan import PHASE_BASE, WorkItem
    from accelsim.schedule.taskqueue import make_task

    config = DEFAULT_CONFIG.replace(array_rows=4, array_cols=4, array_slices=4)
    tasks = [make_task(WorkItem(PHASE_BASE, np.arange(4), np.array([n]), np.arange(8), 32), config)
             for n in range(3)]
    assert dispatch(tasks, config).assignment == [[0], [1], [2], []]
    assert queue_order([8, 8, 8], 4, 4, "in-order", lambda index, taken: 0) == [[0], [1], [2], []]


def test_plans_are_keyed_by_the_fields_their_windows_read():
    from accelsim.simulate import plan_key

    config = DEFAULT_CONFIG.replace(fallback="off")
    for field, value in (("ofmap_sram_kib", 1.0), ("filter_sram_kib", 1.0), ("accumulator_bits", 16),
                         ("operand_bits", 4)):
        assert plan_key(config) != plan_key(config.replace(**{field: value}))
    # 2 slices of 32 × 16 or of 16 × 32: other slices, other plans
    columns = config.replace(array_slices=2)
    assert plan_key(columns) != plan_key(columns.replace(slice_rows=16))
    # bandwidth changes no plan when no path is chosen on it
    assert plan_key(config) == plan_key(config.replace(dram_bandwidth_bytes_per_cycle=4.0))
