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
KEY = ["point", "layer", "image", "scheduler"]


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
    table = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], workers=2)
    assert table["point"].nunique() == 4
    assert len(table) == 4 * 2 * 2 * len(NET)  # points × images × (dense, pixel-skip) × layers
    on_disk = pd.read_csv(tmp_path / "results.csv")
    pd.testing.assert_frame_equal(on_disk, table)
    calls = []
    again = run_sweep(NET, trace, configs, tmp_path, ["pixel-skip"], resume=True,
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 4)]  # nothing left to run
    pd.testing.assert_frame_equal(again, table)


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
        finished = list((killed / "points").glob("*.csv")) if (killed / "points").exists() else []
        if finished:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = list((killed / "points").glob("*.csv"))
    assert 1 <= len(finished) < 12, "the sweep should be stopped midway"
    assert not (killed / "results.csv").exists()
    for path in finished:  # every point file that exists is whole
        assert len(pd.read_csv(path)) == 2 * 3 * len(NET)
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    whole = pd.read_csv(reference / "results.csv").sort_values(KEY).reset_index(drop=True)
    resumed = pd.read_csv(killed / "results.csv").sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed, whole)


@pytest.mark.parametrize("args, message", [
    (["--array", "8x8,0x4"], "--array: expected ROWSxCOLS"),
    (["--bandwidth", "fast"], "--bandwidth: expected numbers"),
    (["--dataflow", "os,rs"], "--dataflow: expected one of os, ws, is"),
    (["--images", "5:9"], "images: expected a non-empty range"),
])
def test_sweep_bad_input(trace, tmp_path, capsys, args, message):
    assert main(["sweep", str(trace), *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
