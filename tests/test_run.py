"""Invariants of a whole run, over every built-in network, dataflow and timing convention."""

import math

import pytest

from accelsim import DEFAULT_CONFIG, SUMMARY_COLUMNS, get_network, run
from accelsim.arch import dense_gemm_cycles, fold_grid, sequence_cycles
from accelsim.engine import simulate
from accelsim.schedule import get_scheduler
from accelsim.workload import NETWORKS
from accelsim.engine import simulate as time_plans


@pytest.mark.parametrize("network", NETWORKS.names())
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("array", [(16, 16), (32, 8), (128, 128)])
def test_run_invariants(network, dataflow, array):
    config = DEFAULT_CONFIG.replace(array_rows=array[0], array_cols=array[1], dataflow=dataflow)
    net = get_network(network)
    result = run(net, config)
    layers = result.layers
    pes = array[0] * array[1]
    # MACs are conserved and the dense scheduler executes all of them
    assert (layers["macs_executed"] == layers["macs_dense"]).all()
    assert layers["macs_dense"].sum() == net.macs
    # no layer beats the compute bound; utilisation is a fraction
    bound = [math.ceil(macs / pes) for macs in layers["macs_dense"]]
    assert (layers["cycles_total"] >= bound).all()
    assert layers["pe_utilization"].between(0, 1).all()
    assert layers["mapping_efficiency"].between(0, 1).all()
    assert (layers["pe_utilization"] <= layers["mapping_efficiency"]).all()
    # each layer is its GEMMs' folds, one pipelined sequence (one GEMM per group)
    for layer, row in zip(net, layers.itertuples()):
        row_folds, col_folds, steps = fold_grid(dataflow, *array, *layer.group_gemm)
        folds = layer.groups * row_folds * col_folds
        assert row.cycles_compute == sequence_cycles(dataflow, *array, [steps] * folds, "pipelined")
    # the summary adds up
    summary = result.summary
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["cycles_total"].iloc[0] == layers["cycles_total"].sum()
    assert summary["folds"].iloc[0] == layers["folds"].sum()
    assert summary["speedup_vs_dense"].iloc[0] == 1.0


def test_engine_runs_layers_back_to_back():
    config = DEFAULT_CONFIG.replace(dataflow="ws")
    plans = [get_scheduler("dense", timer=time_plans).plan(layer, config) for layer in get_network("resnet20")]
    timeline = simulate(plans, config)
    assert [t.layer for t in timeline] == [p.layer.name for p in plans]
    assert timeline[0].start_cycle == 0
    for before, after in zip(timeline, timeline[1:]):
        assert after.start_cycle == before.start_cycle + before.cycles_total
    assert [t.cycles_compute for t in timeline] == [p.cycles for p in plans]


def test_scalesim_timing_subtracts_one_per_layer_and_the_os_drain():
    net = get_network("resnet18")
    physical = run(net, DEFAULT_CONFIG.replace(timing="physical")).layers
    scalesim = run(net, DEFAULT_CONFIG.replace(timing="scalesim")).layers
    expected = physical["cycles_compute"] - physical["folds"] * DEFAULT_CONFIG.array_rows - 1
    assert list(scalesim["cycles_compute"]) == list(expected)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_dense_plan_is_at_most_four_runs_however_large_the_layer(dataflow):
    """The engine's cost follows the runs, so a huge layer costs no more than a small one."""
    from accelsim import Layer

    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dataflow=dataflow)
    layer = Layer.gemm("huge", 46_337, 46_327, 9)  # an output of almost 2^31 elements, ragged on 8x8
    plan = get_scheduler("dense", timer=time_plans).plan(layer, config)
    assert len(plan.runs) == 4
    assert plan.macs == layer.macs
    assert plan.cycles == dense_gemm_cycles(dataflow, 8, 8, 46_337, 46_327, 9, config.timing)
    grouped = Layer.conv("dw", 512, 512, 7, 3, padding=1, groups=512)
    assert len(get_scheduler("dense", timer=time_plans).plan(grouped, config).runs) <= 4


def test_the_api_takes_a_scheduler_name_and_a_trace_path():
    """One scheduler by name (not its letters) and a trace by its path give what a list and an
    open trace give."""
    import pandas as pd

    from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
    from accelsim.cli import DEFAULT_TRACE

    net = get_network("resnet20-fmnist")
    by_name = run(net, DEFAULT_CONFIG, "pixel-skip", DEFAULT_TRACE, images=slice(0, 2), calibration=slice(2, 4))
    with open_trace(DEFAULT_TRACE) as trace:
        by_list = run(net, DEFAULT_CONFIG, ["pixel-skip"], trace, images=slice(0, 2), calibration=slice(2, 4))
    assert set(by_name.summary["scheduler"]) == {"dense", "pixel-skip"}
    pd.testing.assert_frame_equal(by_name.layers, by_list.layers)


def test_workers_give_the_tables_of_one_process(tmp_path):
    """``run --workers 2`` cuts the images in two processes; its tables equal ``--workers 1``'s
    byte for byte (batches of 2, an odd number of them, so the parts differ in size)."""
    from accelsim.cli import main

    common = ["run", "--scheduler", "pixel-skip,balanced,task-queue", "--slices", "4", "--images", "16:26",
              "--batch", "2", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--workers", "2", "--out", str(tmp_path / "two")]) == 0
    for name in ("layers.csv", "summary.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_layers_held_back_are_flagged_with_their_cause(tmp_path, capsys):
    """A depthwise conv (one input channel per filter: a fold holds 1 of 32 columns' channels)
    maps under half its PEs; a 1×1 conv at 1 B/cycle waits for DRAM most of its cycles; with
    unbounded bandwidth the 1×1 conv is held back by nothing. The report says so in one line."""
    from accelsim import Layer, Network
    from accelsim.cli import main
    from accelsim.workload import write_topology

    network = Network("n", (Layer.conv("dw", 64, 64, 14, 3, 1, 1, groups=64), Layer.conv("pw", 64, 64, 14, 1)))
    for bandwidth, expected in ((1.0, ["mapping", "dram"]), (math.inf, ["mapping", "none"])):
        layers = run(network, DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=bandwidth)).layers
        assert list(layers["held_back_by"]) == expected
    pw = layers.iloc[1]
    assert pw["cycles_stall"] == 0 and pw["mapping_efficiency"] >= 0.5
    topology = tmp_path / "n.csv"
    write_topology(network, topology)
    assert main(["run", "--topology", str(topology), "--bandwidth", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("held back")]
    assert len(lines) == 1
    assert "1 layer(s) wait for DRAM more than half their cycles (pw:" in lines[0]
    assert "1 layer(s) use less than half the PEs of their folds (dw:" in lines[0]
