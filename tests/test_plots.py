"""accelsim plot: every figure is written from a run's tables; bad folders are clear errors."""

import pytest

from accelsim import get_network
from accelsim.cli import main
from accelsim.trace import as_trace_layer, gateable_layers, synthesize


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    net = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(net)]
    trace = synthesize(folder / "t.npz", net, layers, 3, {layer.name: 0.3 for layer in layers}, seed=5)
    assert main(["run", str(trace), "--array", "16x16", "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run"


def test_plot_writes_every_figure(results, tmp_path, capsys):
    assert main(["plot", str(results), "--out", str(tmp_path)]) == 0
    assert "wrote 12 figures" in capsys.readouterr().out
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted(f"{figure}.{ext}" for figure in ("speedup", "attribution", "energy", "layers", "latency",
                                                                   "timeline")
                           for ext in ("png", "svg"))
    assert all(path.stat().st_size > 5_000 for path in tmp_path.iterdir())
    svg = (tmp_path / "attribution.svg").read_text()
    assert "thousand cycles per image" in svg and "DRAM stalls" in svg


def test_timeline_figure_of_older_tables_without_start_cycle(results, tmp_path, capsys):
    import pandas as pd

    older = tmp_path / "older"
    older.mkdir()
    pd.read_csv(results / "layers.csv").drop(columns="start_cycle").to_csv(older / "layers.csv", index=False)
    (older / "summary.csv").write_bytes((results / "summary.csv").read_bytes())
    assert main(["plot", str(older), "--out", str(tmp_path / "figs"), "--format", "svg"]) == 0
    svg = (tmp_path / "figs" / "timeline.svg").read_text()
    assert "thousand cycles from the start of the image" in svg and "DRAM stall" in svg


def write_not_results(folder):
    for name in ("layers.csv", "summary.csv"):
        (folder / name).write_text("a\n1\n")


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "layers.csv: no such file"),
    (write_not_results, "summary.csv: scheduler: missing"),
])
def test_plot_bad_input(tmp_path, capsys, make, message):
    make(tmp_path)
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_plot_bad_format(results, tmp_path, capsys):
    assert main(["plot", str(results), "--out", str(tmp_path), "--format", "gif"]) == 2
    assert "--format: expected png, svg or both" in capsys.readouterr().err


def test_plot_of_a_sweep_writes_the_sweep_figures(tmp_path, capsys):
    net = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(net)]
    trace = synthesize(tmp_path / "t.npz", net, layers, 2, {layer.name: 0.3 for layer in layers}, seed=7)
    assert main(["sweep", str(trace), "--array", "8x8,16x16", "--ifmap-kb", "8,64", "--dataflow", "os,ws",
                 "--scheduler", "tile-skip,pixel-skip", "--out", str(tmp_path / "sweep"), "--quiet"]) == 0
    assert main(["plot", str(tmp_path / "sweep"), "--out", str(tmp_path / "figs"), "--format", "svg"]) == 0
    assert "wrote 9 figures" in capsys.readouterr().out
    names = sorted(path.name for path in (tmp_path / "figs").iterdir())
    assert names == ["first-point", "heatmap_speedup.svg", "heatmap_utilization.svg", "speedup_vs_array.svg"]
    heatmap = (tmp_path / "figs" / "heatmap_speedup.svg").read_text()
    # rows name the swept settings, columns the arrays, one panel per gated scheduler
    assert "os I8" in heatmap and "ws I64" in heatmap and "16x16" in heatmap and "pixel-skip" in heatmap
    speedup = (tmp_path / "figs" / "speedup_vs_array.svg").read_text()
    assert "FLOP reduction (theoretical)" in speedup and "WS dataflow" in speedup
    assert len(list((tmp_path / "figs" / "first-point").iterdir())) == 6
