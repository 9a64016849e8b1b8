"""Gated runs end to end: dense reproduces the ungated numbers, the attribution adds up, the
summary is consistent, and accelsim run TRACE works."""

import numpy as np
import pandas as pd
import pytest

from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
from accelsim.cli import main
from accelsim.report import LOST_COLUMNS
from accelsim.schedule import SCHEDULERS
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.engine import simulate as time_plans

NET = get_network("resnet20")


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory):
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(NET)]
    path = tmp_path_factory.mktemp("gated") / "r20.npz"
    return synthesize(path, NET, layers, 4, {layer.name: 0.25 for layer in layers}, seed=2)


@pytest.fixture(scope="module", params=["os", "ws", "is"])
def result(request, trace_path):
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dataflow=request.param)
    with open_trace(trace_path) as trace:
        return config, run(NET, config, SCHEDULERS.names(), trace)


def test_dense_rows_reproduce_the_ungated_run(result):
    config, gated = result
    plain = run(NET, config).layers
    dense = gated.layers[gated.layers["scheduler"] == "dense"]
    for image, rows in dense.groupby("image"):
        assert list(rows["cycles_total"]) == list(plain["cycles_total"])
        assert list(rows["folds"]) == list(plain["folds"])


def test_attribution_adds_up_to_the_cycles(result):
    _, gated = result
    layers = gated.layers
    parts = layers["cycles_ideal"] + layers[list(LOST_COLUMNS)].sum(axis=1)
    np.testing.assert_allclose(parts, layers["cycles_total"], rtol=1e-9, atol=1e-6)
    assert (layers[list(LOST_COLUMNS)] >= -1e-9).all().all()


def test_layer_and_summary_relations(result):
    config, gated = result
    layers, summary = gated.layers, gated.summary.set_index("scheduler")
    assert set(summary.index) == set(SCHEDULERS.names())
    assert (summary["images"] == 4).all()
    gated_rows = layers["gate_on_rate"].notna()
    assert (layers.loc[gated_rows & (layers["scheduler"] != "dense"), "macs_needed"]
            < layers.loc[gated_rows & (layers["scheduler"] != "dense"), "macs_dense"]).all()
    assert (layers.loc[layers["scheduler"] == "dense", "speedup_vs_dense"] == 1).all()
    np.testing.assert_allclose(layers["realized_fraction"], layers["speedup_vs_dense"] / layers["flop_reduction"])
    for name, rows in layers.groupby("scheduler"):
        assert summary.loc[name, "cycles_total"] == rows["cycles_total"].sum()
        per_image = rows.groupby("image")["cycles_total"].sum() / config.clock_mhz / 1e3
        assert summary.loc[name, "latency_ms"] == pytest.approx(per_image.mean())
        assert summary.loc[name, "latency_p95_ms"] == pytest.approx(per_image.quantile(0.95))
    # every gating scheduler needs the same MACs for the same gates
    needed = summary.drop(index="dense")["macs_needed"]
    assert needed.nunique() == 1
    assert summary.loc["clock-gate", "flop_reduction"] > 1
    # clock-gating saves no cycles; skipping can only help
    assert summary.loc["clock-gate", "cycles_compute"] >= summary.loc["tile-skip", "cycles_compute"] \
        >= summary.loc["pixel-skip", "cycles_compute"]


def test_run_trace_cli(trace_path, tmp_path, capsys):
    assert main(["run", str(trace_path), "--array", "16x16", "--scheduler", "pixel-skip,balanced",
                 "--images", "1:3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "with gates from" in out and "pixel-skip" in out and "realized" in out
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert set(layers["scheduler"]) == {"dense", "pixel-skip", "balanced"}
    assert set(layers["image"]) == {1, 2}
    assert {"image", "gate_on_rate", "flop_reduction", "speedup_vs_dense", "realized_fraction",
            "dram_read_bytes", "ofmap_sram_write_bytes", *LOST_COLUMNS} <= set(layers.columns)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert {"latency_ms", "latency_p50_ms", "latency_p95_ms", "flop_reduction", "realized_fraction"} <= set(summary.columns)


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "fast"], "unknown scheduler 'fast'"),
    (["--images", "a:b"], "--images: expected A:B"),
    (["--images", "9:12"], "images: expected a non-empty range of images within 0:4, got 9:12"),
    (["--network", "resnet18"], "network 'resnet18' has 64x56x56"),
])
def test_run_trace_bad_input(trace_path, capsys, args, message):
    assert main(["run", str(trace_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_images_need_a_trace(capsys):
    assert main(["run", "--network", "resnet20", "--images", "0:2"]) == 2
    assert "--images and --calibration need a TRACE" in capsys.readouterr().err


def test_run_alone_uses_the_shipped_trace(tmp_path, capsys):
    from accelsim.cli import DEFAULT_TRACE
    assert main(["run", "--images", "0:2", "--scheduler", "pixel-skip", "--out", str(tmp_path)]) == 0
    assert f"with gates from {DEFAULT_TRACE}" in capsys.readouterr().out
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert set(layers["image"]) == {0, 1} and set(layers["scheduler"]) == {"dense", "pixel-skip"}


def test_no_arguments_runs_the_default_trace(trace_path, tmp_path, monkeypatch, capsys):
    """With a trace at the default place, `accelsim run` alone runs it with every scheduler."""
    import accelsim.cli

    monkeypatch.setattr(accelsim.cli, "DEFAULT_TRACE", trace_path)
    assert main(["run", "--out", str(tmp_path)]) == 0
    assert f"with gates from {trace_path}" in capsys.readouterr().out
    assert set(pd.read_csv(tmp_path / "layers.csv")["scheduler"]) == set(SCHEDULERS.names())
    # without the shipped trace, a bare `accelsim run` is an error, never a silent dense run
    monkeypatch.setattr(accelsim.cli, "DEFAULT_TRACE", tmp_path / "absent.npz")
    assert main(["run", "--quiet", "--out", str(tmp_path / "dense")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.npz is not installed" in err
    assert not (tmp_path / "dense").exists()
    assert main(["run", "--network", "resnet20", "--quiet", "--out", str(tmp_path / "dense")]) == 0
    assert set(pd.read_csv(tmp_path / "dense" / "layers.csv")["scheduler"]) == {"dense"}


@pytest.mark.parametrize("groups, expect_boundary", [(1, False), (4, True)])
def test_group_boundary_is_only_what_groups_cost(groups, expect_boundary):
    """N = 24 on 16 columns: with G = 1 the edge tile is an ordinary partial tile; with G = 4
    (6 channels a group) most empty columns are the groups' doing."""
    from accelsim import Layer
    from accelsim.engine import simulate
    from accelsim.report import lost_cycles
    from accelsim.schedule import GateGeometry, LayerGates, get_scheduler

    layer = Layer.conv("c", 8, 24, 6, 3, padding=1)
    config = DEFAULT_CONFIG.replace(array_rows=16, array_cols=16, dataflow="os",
                                    dram_bandwidth_bytes_per_cycle=float("inf"))
    decisions = np.ones((24, 6, 6), dtype=bool)
    gates = LayerGates(as_trace_layer(layer, groups), decisions)
    plan = get_scheduler("clock-gate", timer=time_plans).two_pass_plan(GateGeometry(layer, config, gates))  # a base pass per group
    lost = lost_cycles(plan, simulate([plan], config)[0], config)
    assert (lost["lost_group_boundary"] > 0) == expect_boundary
    if not expect_boundary:
        dense = get_scheduler("dense", timer=time_plans).plan(layer, config)
        dense_lost = lost_cycles(dense, simulate([dense], config)[0], config)
        assert lost["lost_partial_tiles"] > 0 and dense_lost["lost_partial_tiles"] > 0


@pytest.mark.parametrize("args, message", [
    (["--calibration", "50:60"], "calibration: expected a non-empty range of images within 0:4, got 50:60"),
    (["--calibration", "3:1"], "calibration: expected a non-empty range"),
    (["--scheduler", ","], "--scheduler: expected scheduler names or 'all'"),
    (["--images", "4:"], "images: expected a non-empty range of images within 0:4, got 4:"),
])
def test_more_bad_run_options(trace_path, capsys, args, message):
    assert main(["run", str(trace_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_notes_on_overlap_and_missing_trace(trace_path, capsys):
    assert main(["run", str(trace_path), "--scheduler", "balanced", "--images", "0:2"]) == 0
    assert "overlap the simulated ones" in capsys.readouterr().err
    assert main(["run", str(trace_path), "--scheduler", "balanced", "--images", "2:4",
                 "--calibration", "0:2"]) == 0
    assert "overlap" not in capsys.readouterr().err
    assert main(["run", "--network", "resnet20", "--scheduler", "pixel-skip"]) == 0
    assert "no gate trace" in capsys.readouterr().err
