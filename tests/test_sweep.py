"""Sweeps: a grid in parallel; killed midway, then resumed, it gives the uninterrupted table."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from accelsim import DEFAULT_CONFIG, get_network
from accelsim.cli import main
from accelsim.sweep import grid, run_sweep
from accelsim.trace import as_trace_layer, gateable_layers, synthesize

NET = get_network("resnet20")


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(NET)]
    return synthesize(tmp_path_factory.mktemp("sweep") / "t.npz", NET, layers, 2,
                      {layer.name: 0.3 for layer in layers}, seed=6)


def test_grid_is_the_cartesian_product():
    configs = grid(DEFAULT_CONFIG, {"dataflow": ["os", "ws"], "ifmap_sram_kib": [32.0, 64.0, 128.0]})
    assert len(configs) == 6
    assert {(c.dataflow, c.ifmap_sram_kib) for c in configs} == {(d, k) for d in ("os", "ws") for k in (32, 64, 128)}


def test_sweep_table_and_resume_skip(trace, tmp_path):
    configs = grid(DEFAULT_CONFIG, {"array_rows": [8, 16], "dram_bandwidth_bytes_per_cycle": [8.0, 32.0]})
    result = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], workers=2)
    table = result.layers
    assert table["point"].nunique() == 4
    assert len(table) == 4 * 2 * 2 * len(NET)  # points × images × (dense, pixel-skip) × layers
    on_disk = pd.read_csv(tmp_path / "results.csv")
    pd.testing.assert_frame_equal(on_disk, table)
    calls = []
    again = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], resume=True,
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 4)]  # nothing left to run
    pd.testing.assert_frame_equal(again.layers, table)
    pd.testing.assert_frame_equal(again.summary, result.summary)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 4 * 2 and set(summary["scheduler"]) == {"dense", "pixel-skip"}
    # the per-point summary agrees with its layer rows
    for (point, scheduler), rows in table.groupby(["point", "scheduler"]):
        row = summary[(summary["point"] == point) & (summary["scheduler"] == scheduler)].iloc[0]
        assert row["cycles_total"] == rows["cycles_total"].sum()


def test_points_sharing_a_plan_give_what_separate_runs_give(trace):
    """Plans are made once per array and dataflow; every point must still equal its own run."""
    from accelsim.simulate import run, run_configs
    from accelsim.trace import open_trace
    configs = grid(DEFAULT_CONFIG.replace(array_rows=8, array_cols=8),
                   {"array_cols": [8, 16], "dram_bandwidth_bytes_per_cycle": [4.0, float("inf")],
                    "ifmap_sram_kib": [8.0, 64.0]})
    schedulers = ["clock-gate", "pixel-skip", "balanced", "balanced-oracle"]
    with open_trace(trace) as opened:
        together = run_configs(NET, configs, schedulers, opened)
        for config, result in zip(configs, together):
            alone = run(NET, config, schedulers, opened)
            pd.testing.assert_frame_equal(result.layers, alone.layers)
            pd.testing.assert_frame_equal(result.summary, alone.summary)


def test_killed_sweep_resumes_to_the_same_table(trace, tmp_path):
    args = ["sweep", str(trace), "--array", "4x4,8x8,16x16,32x32", "--bandwidth", "4,16,64",
            "--scheduler", "clock-gate,pixel-skip", "--workers", "1", "--quiet"]
    reference = tmp_path / "whole"
    assert main([*args, "--out", str(reference)]) == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "accelsim.cli", *args, "--out", str(killed)],
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = list((killed / "points").glob("*[0-9a-f].csv")) if (killed / "points").exists() else []
        if finished:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = [path for path in (killed / "points").glob("*.csv") if not path.name.endswith(".summary.csv")]
    assert 1 <= len(finished) < 12, "the sweep should be stopped midway"
    assert not (killed / "results.csv").exists()
    for path in finished:  # every point file that exists is whole, and so is its summary
        assert len(pd.read_csv(path)) == 2 * 3 * len(NET)
        assert len(pd.read_csv(path.with_name(path.stem + ".summary.csv"))) == 3
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    for name in ("results.csv", "summary.csv"):  # byte for byte the uninterrupted tables
        assert (killed / name).read_bytes() == (reference / name).read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--array", "8x8,0x4"], "--array: expected ROWSxCOLS"),
    (["--bandwidth", "fast"], "--bandwidth: expected numbers"),
    (["--dataflow", "os,rs"], "--dataflow: expected one of os, ws, is"),
    (["--images", "5:9"], "images: expected a non-empty range"),
    (["--ifmap-kb", "0,64"], "--ifmap-kb: expected a positive number"),
    (["--gate-latency", "0,1.5"], "--gate-latency: expected integers, got '0,1.5'"),
    (["--fallback", "off,never"], "--fallback: expected one of calibrated, off, got 'never'"),
    (["--dram-type", "HBM2,DDR9"], "--dram-type: expected one of LPDDR4"),
    (["--clock-mhz", ","], "--clock-mhz: expected a comma-separated list"),
])
def test_sweep_bad_input(trace, tmp_path, capsys, args, message):
    assert main(["sweep", str(trace), *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


GRID = """
[base]
timing = "physical"
[axes]
array = ["4x4", "8x8"]
dram_bandwidth_bytes_per_cycle = [4, 16]
[[points]]
array = "16x8"
dataflow = "ws"
"""


def test_grid_file_gives_the_product_and_the_extra_points(tmp_path):
    from accelsim.sweep import load_grid
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    configs = load_grid(path, DEFAULT_CONFIG)
    assert [(c.array, c.dram_bandwidth_bytes_per_cycle, c.dataflow) for c in configs] == [
        ("4x4", 4, "os"), ("4x4", 16, "os"), ("8x8", 4, "os"), ("8x8", 16, "os"), ("16x8", DEFAULT_CONFIG.dram_bandwidth_bytes_per_cycle, "ws")]
    assert all(c.timing == "physical" for c in configs)


@pytest.mark.parametrize("text, message", [
    ("[axes]\narray = ['4x4', '0x2']\n", "axes.array: expected ROWSxCOLS"),
    ("[axes]\nifmap = [1, 2]\n", "ifmap: unknown key"),
    ("[axes]\ndataflow = []\n", "axes.dataflow: expected a non-empty list"),
    ("[grid]\n", "grid: unknown table"),
    ("[base]\ntiming = 'fast'\n[axes]\narray = ['4x4']\n", "timing"),
    ("[base]\n", "no points"),
    ("[axes\n", "not valid TOML"),
    ("[axes]\narray = ['4x4']\n[[points]]\narray = '4x4'\n", "points[0]: the same point as one from axes"),
    ("[[points]]\narray = '4x4'\n[[points]]\nifmap_sram_kib = -1\n", "points[1].ifmap_sram_kib"),
    ("[base.energy]\nwarp_drive = 1.0\n[axes]\narray = ['4x4']\n", "warp_drive"),
])
def test_bad_grid_files_name_the_file_and_key(tmp_path, capsys, trace, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    assert main(["sweep", str(trace), "--grid", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_grid_and_list_options_do_not_mix(tmp_path, capsys, trace):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    assert main(["sweep", str(trace), "--grid", str(path), "--array", "4x4", "--out", str(tmp_path / "o")]) == 2
    assert "not both" in capsys.readouterr().err


def test_sweep_runs_unchanged_on_a_dask_local_cluster(trace, tmp_path):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    args = ["sweep", str(trace), "--grid", str(path), "--scheduler", "pixel-skip", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "local"), "--workers", "2"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main([*args, "--out", str(tmp_path / "dask"), "--dask", cluster.scheduler_address]) == 0
    for name in ("results.csv", "summary.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


@pytest.mark.heavy
def test_unreachable_dask_scheduler_is_one_line(trace, tmp_path, capsys):
    pytest.importorskip("distributed")
    assert main(["sweep", str(trace), "--array", "4x4", "--dask", "tcp://127.0.0.1:9",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the scheduler" in err


@pytest.mark.slow
def test_shipped_trace_grid_survives_a_kill_and_runs_on_dask(tmp_path):
    """The 4 x 3 x 2 grid over the shipped trace: killed midway and resumed it gives the
    uninterrupted tables byte for byte, and so does a Dask local cluster."""
    from accelsim.cli import DEFAULT_TRACE
    args = ["sweep", str(DEFAULT_TRACE), "--array", "8x8,16x16,32x32,64x64", "--ifmap-kb", "16,64,256",
            "--dataflow", "os,ws", "--scheduler", "pixel-skip", "--images", "0:2", "--quiet"]
    whole = tmp_path / "whole"
    assert main([*args, "--out", str(whole), "--workers", "2"]) == 0
    assert pd.read_csv(whole / "summary.csv")["point"].nunique() == 24
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "accelsim.cli", *args, "--workers", "1", "--out", str(killed)],
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (killed / "points").exists() and list((killed / "points").glob("*[0-9a-f].csv")):
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = list((killed / "points").glob("*[0-9a-f].csv"))
    assert 1 <= len(done) < 24 and not (killed / "results.csv").exists()
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        assert main([*args, "--out", str(tmp_path / "dask"), "--dask", cluster.scheduler_address]) == 0
    for name in ("results.csv", "summary.csv"):
        reference = (whole / name).read_bytes()
        assert (killed / name).read_bytes() == reference
        assert (tmp_path / "dask" / name).read_bytes() == reference


def test_every_varying_field_is_a_column_and_plans_are_shared_in_chunks(trace, tmp_path):
    configs = grid(DEFAULT_CONFIG.replace(array_rows=8, array_cols=8),
                   {"dram_latency_cycles": [10, 200, 400], "ifmap_sram_kib": [16.0, 64.0]})
    calls = []
    result = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], workers=2,
                       progress=lambda done, total: calls.append(done))
    assert calls[0] == 0 and calls[-1] == 6 and len(calls) >= 3  # one group, cut into two tasks
    summary = result.summary
    assert sorted(summary["dram_latency_cycles"].unique()) == [10, 200, 400]
    assert summary.groupby("point")["dram_latency_cycles"].nunique().eq(1).all()


def test_resume_reruns_a_point_whose_summary_is_missing(trace, tmp_path):
    configs = grid(DEFAULT_CONFIG, {"array_rows": [4, 8]})
    first = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], workers=1)
    victim = next((tmp_path / "points").glob("*.summary.csv"))
    victim.unlink()
    calls = []
    again = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], resume=True, workers=1,
                      progress=lambda done, total: calls.append(done))
    assert calls[0] == 1  # only the whole point was skipped
    pd.testing.assert_frame_equal(again.summary, first.summary)


def test_parquet_tables_equal_the_csv_ones(trace, tmp_path):
    pytest.importorskip("pyarrow")
    assert main(["sweep", str(trace), "--array", "4x4,8x8", "--scheduler", "pixel-skip", "--parquet",
                 "--out", str(tmp_path), "--quiet"]) == 0
    for csv, parquet in (("results.csv", "results.parquet"), ("summary.csv", "summary.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / parquet), pd.read_csv(tmp_path / csv),
                                      check_dtype=False)


def test_sweep_over_generated_options(trace, tmp_path):
    """Any config field is an axis: its option takes a list, and the point's config has it."""
    assert main(["sweep", str(trace), "--array", "8x8", "--clock-mhz", "500,1000", "--gate-latency", "0,4",
                 "--fallback", "off", "--dram-type", "HBM2", "--scheduler", "pixel-skip", "--images", "0:1",
                 "--workers", "1", "--quiet", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["point"].nunique() == 4
    assert set(zip(summary["clock_mhz"], summary["gate_latency_cycles"])) == {(500, 0), (500, 4), (1000, 0), (1000, 4)}
    # the DRAM type reached every point: HBM2's pJ/bit is not LPDDR4's
    assert main(["sweep", str(trace), "--array", "8x8", "--clock-mhz", "500", "--gate-latency", "0",
                 "--fallback", "off", "--scheduler", "pixel-skip", "--images", "0:1", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "lpddr4")]) == 0
    lpddr4 = pd.read_csv(tmp_path / "lpddr4" / "summary.csv")
    hbm2 = summary[(summary["clock_mhz"] == 500) & (summary["gate_latency_cycles"] == 0)]
    assert (hbm2["energy_dram_pj"].to_numpy() != lpddr4["energy_dram_pj"].to_numpy()).all()


def test_sweep_over_slices_and_queue_depth(trace, tmp_path):
    """The sliced array's fields are axes like any other, and each point runs its own plan."""
    assert main(["sweep", str(trace), "--array", "8x8", "--slices", "1,4", "--queue-depth", "1,8",
                 "--task-folds", "0,1", "--dispatch", "longest-first", "--fallback", "off", "--scheduler", "task-queue",
                 "--images", "0:1", "--workers", "1", "--quiet", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(zip(summary["array_slices"], summary["queue_depth_tasks"], summary["task_folds"])) == {
        (slices, depth, folds) for slices in (1, 4) for depth in (1, 8) for folds in (0, 1)}
    gated = summary[summary["scheduler"] == "task-queue"].set_index(["array_slices", "queue_depth_tasks", "task_folds"])
    # 4 slices of 2 columns run narrower tasks than one 8-column array: different cycles
    assert gated.loc[(4, 8, 0), "cycles_total"] != gated.loc[(1, 8, 0), "cycles_total"]
    # the same folds, cut into more and shorter tasks: the plans differ
    assert gated.loc[(4, 8, 1), "folds"] == gated.loc[(4, 8, 0), "folds"]
    assert gated.loc[(4, 8, 1), "cycles_total"] != gated.loc[(4, 8, 0), "cycles_total"]
    assert (summary.loc[summary["array_slices"] == 1, "crossbar_bytes"] == 0).all()
    assert (summary.loc[summary["array_slices"] == 4, "crossbar_bytes"] > 0).all()


def test_sweep_over_slice_rows(trace, tmp_path, capsys):
    """Slices of fewer rows are an axis too; a point whose slices cannot tile the array is one line, exit 2."""
    assert main(["sweep", str(trace), "--array", "8x8", "--slices", "8", "--slice-rows", "0,4",
                 "--fallback", "off", "--scheduler", "task-queue", "--images", "0:1", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "ok")]) == 0
    summary = pd.read_csv(tmp_path / "ok" / "summary.csv")
    gated = summary[summary["scheduler"] == "task-queue"].set_index("slice_rows")
    assert sorted(gated.index) == [0, 4]
    # 8 slices of 8 × 1 against 8 slices of 4 × 2: other folds, other cycles
    assert gated.loc[0, "cycles_total"] != gated.loc[4, "cycles_total"]
    capsys.readouterr()
    assert main(["sweep", str(trace), "--array", "8x8", "--slices", "1,8", "--slice-rows", "4",
                 "--scheduler", "task-queue", "--images", "0:1", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--slices: expected a divisor of array_cols (8) times the bands of rows (8 / 4 = 2)" in err


def test_a_dense_sweep_of_a_topology_needs_no_trace(tmp_path, capsys):
    """``sweep --topology my.csv --array 16x16,32x32``: each point is the network's dense run."""
    import pandas as pd

    from accelsim import DEFAULT_CONFIG, load_topology, run
    from accelsim.cli import main

    topology = tmp_path / "my.csv"
    topology.write_text("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
                        "stem,conv,3,16,16,16,3,3,1,2,2,1\npw,conv,16,32,16,16,1,1,1,0,0,1\n")
    out = tmp_path / "d"
    assert main(["sweep", "--topology", str(topology), "--array", "16x16,32x32", "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["scheduler"]) == ["dense", "dense"]
    for rows in (16, 32):
        alone = run(load_topology(topology), DEFAULT_CONFIG.replace(array_rows=rows, array_cols=rows)).summary
        assert summary.loc[summary["array_rows"] == rows, "cycles_total"].item() == alone["cycles_total"].item()
    assert main(["sweep", "--array", "16x16", "--out", str(tmp_path / "e")]) == 2
    assert "give a TRACE, or --network NAME or --topology" in capsys.readouterr().err
