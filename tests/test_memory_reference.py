"""Finite DRAM bandwidth on one array: the engine's closed form against the cycle-stepped
channel of :mod:`accelsim.reference.memory`, to the cycle, on random layers, gates, SRAM
sizes, bandwidths, latencies, dataflows and timings."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim import DEFAULT_CONFIG, Layer
from accelsim.arch.machine import dispatch
from accelsim.arch.timing import fold_cycles, get_timing
from accelsim.engine import layer_traffic, one_array, simulate
from accelsim.reference import stepped_layer_cycles
from accelsim.reference.memory import port_demands, stepped_load_cycles, stepped_stream_cycles, tile_demand
from accelsim.reference.slices import stepped_sliced_cycles
from accelsim.schedule import SCHEDULERS, LayerGates, get_scheduler
from accelsim.schedule.plan import PHASE_CONDITIONAL, LayerPlan, gemm_runs
from accelsim.trace import as_trace_layer
from test_task_queue import make_plan, sliced_cases, uneven_cases
from tiers import examples

ONE_ARRAY = [name for name in SCHEDULERS.names() if name != "task-queue"]


def per_fold_bytes(plan: LayerPlan, config):
    """Per fold, in the order the array runs them: the bytes it fetches for itself; and what
    each fold streams besides, and of that its outputs."""
    traffic = layer_traffic(plan, config)
    own = np.repeat(traffic.per_fold, plan.runs["count"]).tolist()
    reads, writes = traffic.streamed(len(own))
    return own, reads + writes, writes


def stepped(plan: LayerPlan, config) -> int:
    """The reference's cycles of a plan for one array: pipelined, its runs as the tasks of one
    slice on the stepped slices and channel; otherwise fold by fold, each fold alone, a
    conditional pass a gate latency after the work before it."""
    own, streamed, writes = per_fold_bytes(plan, config)
    bandwidth, latency = config.dram_bandwidth_bytes_per_cycle, config.dram_latency_cycles
    if get_timing(config.timing).pipelined:
        tasks, fetches, first = plan.array_tasks, [], 0
        for task in tasks:
            fetches.append(sum(own[first:first + task.fold_count]))
            first += task.fold_count
        return stepped_sliced_cycles((tasks,), one_array(config), [fetches], streamed, writes)
    runs = plan.runs[plan.runs["count"] > 0]
    phases = np.repeat(runs["phase"], runs["count"])
    gaps = [config.gate_latency_cycles if k and phase == PHASE_CONDITIONAL and phases[k - 1] != PHASE_CONDITIONAL
            else 0 for k, phase in enumerate(phases)]
    flow_rows, flow_cols = config.array_rows, config.array_cols
    stationary = config.dataflow != "os"
    cycles = [fold_cycles(config.dataflow, flow_rows, flow_cols,
                          stepped_stream_cycles(int(run["time_steps"]),
                                                port_demands(config, int(run["rows_used"]), int(run["cols_used"]))),
                          config.timing)
              + (stepped_load_cycles(flow_rows, int(run["rows_used"] * run["cols_used"]), tile_demand(config))
                 - flow_rows if stationary else 0)
              for run in runs for _ in range(int(run["count"]))]
    moved = [fetch + streamed - (0 if position else writes) for position, fetch in enumerate(own)]
    return stepped_layer_cycles(cycles, own, moved, writes, get_timing(config.timing).layer_offset_cycles,
                                bandwidth, latency, gaps)


def assert_within_the_ports(timing, config):
    """What the layer read from the ifmap and filter SRAMs, per cycle of the layer, is at most
    what their banks' ports deliver (the tables' own figures)."""
    for sram in ("ifmap", "filter"):
        banks = getattr(config, f"{sram}_sram_banks")
        if banks:
            assert timing.traffic[f"{sram}_sram_read_bytes"] * 8 <= timing.cycles_total * banks * config.sram_port_bits


@st.composite
def cases(draw):
    groups = draw(st.integers(1, 3))
    layer = Layer.conv("x", groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 4)),
                       draw(st.integers(3, 7)), draw(st.sampled_from([1, 3])), stride=draw(st.sampled_from([1, 2])),
                       padding=1)
    layer = dataclasses.replace(layer, batch=draw(st.sampled_from([1, 2])))
    config = DEFAULT_CONFIG.replace(
        array_rows=draw(st.integers(1, 8)), array_cols=draw(st.integers(1, 8)),
        dataflow=draw(st.sampled_from(["os", "ws", "is"])),
        timing=draw(st.sampled_from(["physical", "pipelined", "scalesim"])),
        dram_bandwidth_bytes_per_cycle=draw(st.sampled_from([0.5, 1.0, 3.0, 7.5, 16.0, 64.0])),
        dram_latency_cycles=draw(st.sampled_from([0, 1, 7, 50])),
        ifmap_sram_kib=draw(st.sampled_from([0.0625, 0.25, 64.0])),
        filter_sram_kib=draw(st.sampled_from([0.0625, 0.25, 64.0])),
        ofmap_sram_kib=draw(st.sampled_from([0.0625, 64.0])),
        ifmap_sram_banks=draw(st.sampled_from([0, 0, 1, 2, 3])), filter_sram_banks=draw(st.sampled_from([0, 0, 1, 5])),
        sram_port_bits=draw(st.sampled_from([8, 24, 64])))
    rate = draw(st.sampled_from([0.0, 0.3, 1.0]))
    scheduler = draw(st.sampled_from(ONE_ARRAY))
    return layer, groups, config, rate, scheduler, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=examples(300), deadline=None)
@given(case=cases())
def test_engine_equals_the_stepped_channel(case):
    layer, groups, config, rate, scheduler, seed = case
    rng = np.random.default_rng(seed)
    shape = (layer.out_channels, layer.out_h, layer.out_w)
    gates = None
    if scheduler != "dense" and layer.batch == 1:
        gates = LayerGates(as_trace_layer(layer, groups), rng.random(shape) < rate,
                           rng.random((2, *shape)) < rate)
    plan = get_scheduler(scheduler if gates else "dense", timer=simulate).plan(layer, config, gates)
    assert plan.sliced is None
    # the machine's one slice with an ideal memory gives the plan's stall-free cycles
    assert dispatch(plan.array_tasks, one_array(config)).makespan \
        == plan.cycles - get_timing(config.timing).layer_offset_cycles
    timing = simulate([plan], config)[0]
    assert timing.cycles_total == max(stepped(plan, config), plan.cycles)
    assert timing.cycles_compute == plan.cycles
    assert 0 <= timing.cycles_sram <= timing.cycles_stall
    assert_within_the_ports(timing, config)


def test_grouping_identical_folds_into_runs_changes_nothing():
    """The same folds as one run or as two runs of half as many take the same cycles."""
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, timing="physical", ifmap_sram_kib=0.0625,
                                    filter_sram_kib=0.0625, dram_bandwidth_bytes_per_cycle=4.0,
                                    dram_latency_cycles=50)
    layer = Layer.conv("x", 16, 16, 8, 3, 1, 1)
    runs = gemm_runs(layer.M, layer.N, layer.K, 8, 8, "os", "physical")
    halves = np.concatenate([runs, runs])
    halves["count"] = np.concatenate([runs["count"] // 2, runs["count"] - runs["count"] // 2])
    whole, split = (LayerPlan(layer, "dense", r) for r in (runs, halves))
    assert simulate([split], config)[0].cycles_total == simulate([whole], config)[0].cycles_total
    assert simulate([whole], config)[0].cycles_stall > 0


@pytest.mark.parametrize("bandwidth, latency, expected", [
    # one fold of 4 cycles: all 10 bytes at 4 B/cycle leave in 3 cycles, arrive 5 later
    (4.0, 5, 3 + 5 + 4),
    # at 10 B/cycle: one cycle and the latency
    (10.0, 0, 1 + 4),
])
def test_a_single_fold_waits_for_its_whole_transfer_and_the_latency(bandwidth, latency, expected):
    assert stepped_layer_cycles([4], [10.0], [10.0], 0.0, 0, bandwidth, latency) == expected


@pytest.mark.parametrize("latency, expected", [
    # first fold: 1 cycle and 5 → starts at 6; the second's own bytes arrive at 6 + 1 + 5 = 12,
    # after its whole transfer (6 + 4 = 10): starts at 12, ends at 14; 16 bytes in 2 more
    (5, 16),
    # first starts at 2; the second's whole transfer leaves at 2 + 4 = 6, after its own bytes
    # arrive (2 + 1 + 1 = 4): starts at 6, ends at 8; 2 more for the outputs
    (1, 10),
])
def test_the_channel_paces_a_fold_by_its_own_fetch_and_latency_or_its_whole_transfer(latency, expected):
    """Two folds of 2 cycles at 8 B/cycle; the first moves 8 bytes, the second fetches 8 of
    its own and streams 24 more, issued as the first starts; 16 bytes are left to write."""
    assert stepped_layer_cycles([2, 2], [8.0, 8.0], [8.0, 32.0], 16.0, 0, 8.0, latency) == expected


# --- slices fed by a task queue ----------------------------------------------------------------

def task_bytes(plan, config):
    """Per phase and task, the bytes it fetches for itself (its runs' folds, in plan order);
    per fold, what the layer streams and, of that, its outputs."""
    traffic = layer_traffic(plan, config)
    per_run = (traffic.per_fold * plan.runs["count"]).tolist()
    reads, writes = traffic.streamed(int(plan.runs["count"].sum()))
    fetches, position = [], 0
    for tasks in plan.sliced.phases:
        fetches.append([])
        for task in tasks:
            fetches[-1].append(sum(per_run[position:position + len(task.runs)]))
            position += len(task.runs)
    assert position == len(per_run)
    return fetches, reads + writes, writes


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@settings(max_examples=examples(100), deadline=None)
@given(case=st.one_of(sliced_cases(), uneven_cases()),
       bandwidth=st.sampled_from([0.5, 2.0, 7.5, 64.0]), latency=st.sampled_from([0, 3, 40]),
       sram=st.sampled_from([0.0625, 1.0, 64.0]), banks=st.sampled_from([(0, 0), (1, 0), (0, 2), (3, 1), (16, 16)]),
       dispatch=st.sampled_from([0, 1, 6]))
def test_the_slice_machine_equals_the_stepped_channel(dataflow, case, bandwidth, latency, sram, banks, dispatch):
    """Slices taking tasks from the queue, their transfers contending for one DRAM channel and
    their streams for their shares of the SRAM ports: the engine's layer cycles are the
    stepped reference's (never fewer than the plan's)."""
    plan, _, _, _, config = make_plan(case, dataflow, dram_bandwidth_bytes_per_cycle=bandwidth,
                                      dram_latency_cycles=latency, ifmap_sram_kib=sram, filter_sram_kib=sram,
                                      ofmap_sram_kib=sram, ifmap_sram_banks=banks[0], filter_sram_banks=banks[1],
                                      sram_port_bits=16, dispatch_latency_cycles=dispatch)
    fetches, streamed, written = task_bytes(plan, config)
    reference = stepped_sliced_cycles(plan.sliced.phases, config, fetches, streamed, written)
    timing = simulate([plan], config)[0]
    assert timing.cycles_total == max(reference, plan.cycles)
    assert 0 <= timing.cycles_sram <= timing.cycles_stall
    assert_within_the_ports(timing, config)


def test_the_channel_refuses_a_transfer_asked_for_out_of_order():
    """First come, first served holds only for transfers asked for in time order."""
    from accelsim.arch.memory import DramChannel
    channel = DramChannel(4.0, 0)
    assert channel.begin(5, 3) == 5 and channel.begin(6, 2) == 8
    with pytest.raises(ValueError, match="asked for at cycle 4"):
        channel.begin(4, 1)


def test_the_idealised_model_has_no_port_limits():
    """``costs = "ideal"`` times a layer as if its SRAMs had no banks, whatever they have."""
    layer = Layer.conv("x", 32, 32, 8, 3, 1, 1)
    starved = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, ifmap_sram_banks=1, filter_sram_banks=1,
                                     sram_port_bits=8)
    plan = get_scheduler("dense").plan(layer, starved)
    charged, = simulate([plan], starved)
    ideal, = simulate([plan], starved.replace(costs="ideal"))
    unbanked, = simulate([plan], starved.replace(ifmap_sram_banks=0, filter_sram_banks=0))
    assert charged.cycles_sram > 0 and charged.cycles_total > ideal.cycles_total
    assert (ideal.cycles_total, ideal.cycles_sram) == (unbanked.cycles_total, 0)
