"""accelsim plot: every figure is written from a run's tables; bad folders are clear errors."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from accelsim import get_network, plots
from accelsim.cli import main
from accelsim.energy.account import ENERGY_COMPONENTS
from accelsim.report import LOST_COLUMNS
from accelsim.trace import as_trace_layer, gateable_layers, synthesize

matplotlib.use("Agg")


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
    assert "wrote 10 figures" in capsys.readouterr().out
    names = sorted(path.name for path in (tmp_path / "figs").iterdir())
    assert names == ["first-point", "heatmap_speedup.svg", "heatmap_utilization.svg", "latency_energy_vs_array.svg",
                     "speedup_vs_array.svg"]
    heatmap = (tmp_path / "figs" / "heatmap_speedup.svg").read_text()
    # rows name the swept settings, columns the arrays, one panel per gated scheduler
    assert "os I8" in heatmap and "ws I64" in heatmap and "16×16" in heatmap and "pixel-skip" in heatmap
    speedup = (tmp_path / "figs" / "speedup_vs_array.svg").read_text()
    assert "FLOP reduction (theoretical)" in speedup and "WS dataflow" in speedup
    assert len(list((tmp_path / "figs" / "first-point").iterdir())) == 6


# -- each figure from a small table built here ----------------------------------------------


def energies(**pj):
    return {f"energy_{component}_pj": float(pj.get(component, 0.0)) for component in ENERGY_COMPONENTS}


def sweep_summary():
    """A sweep's summary: arrays 4×4 to 32×32, two ifmap sizes, two dataflows, dense and one
    gated scheduler; cycles fall with the PEs, so latency spans decades and energy does not."""
    rows, point = [], 0
    for dataflow in ("os", "ws"):
        for side in (4, 8, 16, 32):
            for ifmap in (16.0, 64.0):
                point += 1
                for scheduler, factor in (("dense", 1.0), ("pixel-skip", 0.8)):
                    cycles = 2 * 4.0e6 / side**2 * factor * (1.1 if ifmap == 16 else 1.0)
                    dram = 2e6 * (60 + side) * (1.05 if dataflow == "ws" else 1.0)
                    energy = energies(dram=dram, mac=2e6 * 40 * factor)
                    rows.append({"point": f"p{point}", "network": "net", "scheduler": scheduler, "dataflow": dataflow,
                                 "array_rows": side, "array_cols": side, "images": 2, "cycles_total": cycles,
                                 "clock_mhz": 500.0, **energy, "energy_total_pj": sum(energy.values()),
                                 "speedup_vs_dense": 1 / factor, "flop_reduction": 2.0,
                                 "pe_utilization": 0.5 * factor, "ifmap_sram_kib": ifmap})
    return pd.DataFrame(rows)


def test_sweep_cost_figure_plots_latency_energy_and_their_product():
    summary = sweep_summary()
    costs = plots.sweep_costs(summary)
    assert costs["latency_us"].to_numpy() == pytest.approx(summary["cycles_total"] / 2 / 500.0)
    figure = plots.sweep_cost_figure(summary)
    latency, energy, edp = figure.axes[:3]  # the OS row
    assert "µs" in latency.get_ylabel() and "µJ" in energy.get_ylabel() and "µJ·µs" in edp.get_ylabel()
    assert latency.get_yscale() == "log" and edp.get_yscale() == "log"  # 64× apart
    assert energy.get_yscale() == "linear" and energy.get_ylim()[0] == 0
    os_rows = costs[costs["dataflow"] == "os"]
    for name in ("dense", "pixel-skip"):
        chosen = os_rows[os_rows["scheduler"] == name]
        expected = (chosen["latency_us"] * chosen["energy_uj"]).groupby(chosen["array_rows"]).mean()
        label = "dense (baseline)" if name == "dense" else name
        line = next(line for line in edp.get_lines() if line.get_label() == label)
        assert line.get_ydata() == pytest.approx(expected.to_numpy())  # per point, then the mean
        lat = next(line for line in latency.get_lines() if line.get_label() == label)
        assert lat.get_ydata() == pytest.approx(chosen.groupby("array_rows")["latency_us"].mean().to_numpy())
    bottom = figure.axes[5]  # the WS row's EDP, whose ticks the column shares
    assert [text.get_text() for text in bottom.get_xticklabels()] == ["4×4", "8×8", "16×16", "32×32"]
    assert "PE rows × columns" in bottom.get_xlabel() and "WS" in bottom.get_title()
    # an explicit clock rescales the latency and so the product
    fast = plots.sweep_cost_figure(summary, clock_mhz=1000.0)
    assert fast.axes[0].get_lines()[0].get_ydata() == pytest.approx(latency.get_lines()[0].get_ydata() / 2)
    assert "at 1000 MHz" in fast.get_suptitle()


def run_summary():
    """dense 100 µJ per image; balanced 90 (−10 %); tile-skip 105 (+5 %). leakage is 1 % of
    every bar, gate 1 % of dense's but 5.6 % of balanced's, idle nothing."""
    bars = {"dense": dict(dram=50, mac=33, register=15, leakage=1, gate=1),
            "balanced": dict(dram=50, mac=22, register=12, leakage=1, gate=5),
            "tile-skip": dict(dram=55, mac=33, register=15, leakage=1.05, gate=0.95)}
    return pd.DataFrame([{"network": "net", "scheduler": name, "dataflow": "os", "array_rows": 16, "array_cols": 16,
                          "images": 4, **energies(**{k: v * 4e6 for k, v in parts.items()})}
                         for name, parts in bars.items()])


def test_energy_figure_groups_small_components_and_labels_the_saving():
    summary = run_summary()
    shown, other = plots.energy_groups(summary)
    assert shown == ["mac", "register", "gate", "dram"]
    assert set(other) == set(ENERGY_COMPONENTS) - set(shown)
    figure = plots.energy_figure(summary)
    axis = figure.axes[0]
    bars = {container.get_label().split(" (")[0].split(":")[0]: container for container in axis.containers}
    assert set(bars) == {"mac", "register", "gate", "dram", "other"}
    assert [bar.get_height() for bar in bars["other"]] == pytest.approx([1, 1, 1.05])  # leakage alone is spent
    assert "leakage" in bars["other"].get_label() and "idle" not in bars["other"].get_label()
    labels = [text.get_text() for text in axis.texts]
    assert labels == ["100 µJ\nbaseline", "90 µJ\n−10 %", "105 µJ\n+5.0 %"]
    colours = [tuple(container[0].get_facecolor()) for container in axis.containers]
    assert len(set(colours)) == len(colours)  # no two components alike


def run_layers():
    """Two layers, two images, three schedulers; pixel-skip is the fastest."""
    rows = []
    for scheduler, factor in (("dense", 1.0), ("tile-skip", 0.9), ("pixel-skip", 0.6)):
        for image in (0, 1):
            for layer, compute, stall in (("conv1", 3000, 1000), ("conv2", 5000, 0)):
                compute *= factor * (1 + image / 10)
                lost = dict.fromkeys(LOST_COLUMNS, 100.0) | {"lost_stall": float(stall)}
                ideal = compute + stall - sum(lost.values())
                rows.append({"network": "net", "layer": layer, "image": image, "scheduler": scheduler,
                             "dataflow": "ws", "array_rows": 32, "array_cols": 16, "cycles_compute": compute,
                             "cycles_stall": stall, "cycles_total": compute + stall, "cycles_ideal": ideal, **lost,
                             "speedup_vs_dense": 1 / factor, "pe_utilization": 0.4,
                             "latency_us": (compute + stall) / 1000.0})
    return pd.DataFrame(rows)


def test_layers_figure_breaks_down_the_cycles_of_each_layer():
    layers = run_layers()
    figure = plots.layers_figure(layers)
    assert figure.get_suptitle().startswith("net on 32×16 WS")
    cycles, where = figure.axes[:2]
    compute = [bar.get_height() for bar in cycles.containers[0]]  # dense: computing, per layer
    stall = cycles.containers[1]
    assert compute == pytest.approx([3.15, 5.25])  # thousand cycles, mean over the images
    assert [bar.get_height() for bar in stall] == pytest.approx([1.0, 0.0])
    assert [bar.get_y() for bar in stall] == pytest.approx(compute)  # stacked on the computing part
    assert "pixel-skip" in where.get_title()
    tops = sum(np.array([bar.get_height() for bar in container]) for container in where.containers)
    chosen = layers[layers["scheduler"] == "pixel-skip"].groupby("layer")["cycles_total"].mean() / 1e3
    assert tops == pytest.approx(chosen.to_numpy())  # ideal + every loss = the layer's cycles


def test_latency_figure_starts_from_zero():
    figure = plots.latency_figure(run_layers())
    axis = figure.axes[0]
    low, high = axis.get_ylim()
    assert low == 0 and high > 9.0e-3  # ms: dense's slower image takes 9.3 µs
    assert "net on 32×16 WS" in axis.get_title()


def test_heatmaps_have_units_and_the_dense_baseline():
    summary = sweep_summary()
    figure = plots.heatmap_figure(summary, "speedup_vs_dense")
    dense, gated = figure.axes[:2]
    assert "dense (baseline)" in dense.get_title() and "µs" in dense.get_title()
    # the dense panel holds dense's latency per image on each point: OS I16 on 4×4 first
    assert dense.texts[0].get_text() == f"{2 * 4.0e6 / 16 * 1.1 / 2 / 500:.0f}"
    assert gated.get_title() == "pixel-skip" and gated.texts[0].get_text() == "1.25"
    assert "PE rows × columns" in dense.get_xlabel()
    assert "dataflow" in dense.get_ylabel() and "ifmap SRAM, KiB" in dense.get_ylabel()
    assert [text.get_text() for text in dense.get_yticklabels()] == ["os I16", "os I64", "ws I16", "ws I64"]
    assert figure.get_layout_engine() is not None  # managed: nothing clipped
    utilisation = plots.heatmap_figure(summary, "pe_utilization")
    dense, gated = utilisation.axes[:2]
    assert dense.get_title() == "dense (baseline)" and dense.texts[0].get_text() == "50"
    assert dense.images[0].get_clim() == gated.images[0].get_clim()  # one scale for all


def test_slices_figure_draws_speedup_and_energy_against_p():
    summary = sweep_summary()
    summary = pd.concat([summary.assign(array_slices=slices, speedup_vs_dense=summary["speedup_vs_dense"] * slices,
                                        energy_total_pj=summary["energy_total_pj"] * (1 + slices / 10))
                         for slices in (1, 4)], ignore_index=True)
    figure = plots.sweep_slices_figure(summary[summary["array_cols"] == 8])
    speed, energy = figure.axes[:2]
    assert speed.get_xscale() == "log" and "slices" in speed.get_xlabel() and "µJ" in energy.get_ylabel()
    line = next(line for line in speed.get_lines() if line.get_label() == "pixel-skip")
    rows = summary[(summary["array_cols"] == 8) & (summary["scheduler"] == "pixel-skip")]
    assert list(line.get_xdata()) == [1, 4]
    assert list(line.get_ydata()) == pytest.approx(list(rows.groupby("array_slices")["speedup_vs_dense"].mean()))


def test_slices_figure_draws_a_line_per_height_of_slice():
    """Slices of all rows and of fewer rows are not averaged into one line."""
    summary = sweep_summary()
    summary = summary[summary["array_cols"] == 8]
    summary = pd.concat([summary.assign(array_slices=slices, slice_rows=rows,
                                        speedup_vs_dense=summary["speedup_vs_dense"] * (slices + rows))
                         for slices, rows in ((2, 0), (4, 0), (4, 4), (8, 4))], ignore_index=True)
    speed = plots.sweep_slices_figure(summary).axes[0]
    labels = {line.get_label(): line for line in speed.get_lines()}
    whole, banded = labels["pixel-skip, 8×8, all rows"], labels["pixel-skip, 8×8, 4-row slices"]
    assert list(whole.get_xdata()) == [2, 4] and list(banded.get_xdata()) == [4, 8]
    rows = summary[(summary["scheduler"] == "pixel-skip") & (summary["slice_rows"] == 4)]
    assert list(banded.get_ydata()) == pytest.approx(list(rows.groupby("array_slices")["speedup_vs_dense"].mean()))


def test_figures_with_nothing_to_compare_are_left_out_and_long_networks_paged(tmp_path, capsys):
    """A dense run of one image has no speedup to compare and no latency to spread; a network
    of more than 30 layers is drawn on pages of 30, each of a readable width."""
    topology = tmp_path / "long.csv"
    rows = ["layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups"]
    rows += [f"c{index},conv,8,8,8,8,3,3,1,2,2,1" for index in range(45)]
    topology.write_text("\n".join(rows) + "\n")
    assert main(["run", "--topology", str(topology), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "figs"), "--format", "png", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    names = sorted(path.stem for path in (tmp_path / "figs").iterdir())
    assert names == ["attribution", "energy", "layers", "layers-2", "timeline"]
    width, _ = matplotlib.image.imread(tmp_path / "figs" / "layers.png").shape[1::-1]
    assert width < 2400


def test_a_few_images_are_drawn_as_points_not_boxes(results):
    layers = pd.read_csv(results / "layers.csv")
    figure = plots.latency_figure(layers)
    axis = figure.axes[0]
    assert len(axis.collections) == layers["scheduler"].nunique()  # one scatter per scheduler
    assert "each point an image" in axis.get_title()


def test_a_sweeps_first_point_figures_name_the_point(tmp_path):
    from accelsim.cli import DEFAULT_TRACE

    out = tmp_path / "sweep"
    assert main(["sweep", str(DEFAULT_TRACE), "--array", "8x8,16x16", "--scheduler", "pixel-skip", "--images", "16:18",
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert main(["plot", str(out), "--out", str(tmp_path / "figs"), "--format", "svg", "--quiet"]) == 0
    svg = (tmp_path / "figs" / "first-point" / "speedup.svg").read_text()
    assert "sweep point" in svg and "array_rows = 8" in svg


@pytest.mark.parametrize("table, column, value, message", [
    ("summary.csv", "cycles_total", -5, "cycles_total: expected a number ≥ 0 in row 2, got -5"),
    ("layers.csv", "latency_us", -1.5, "latency_us: expected a number ≥ 0 in row 2, got -1.5"),
    ("summary.csv", "clock_mhz", -100, "clock_mhz: expected a positive number in row 2"),
])
def test_forged_negative_values_are_refused(results, tmp_path, capsys, table, column, value, message):
    forged = tmp_path / "forged"
    forged.mkdir()
    for name in ("layers.csv", "summary.csv"):
        frame = pd.read_csv(results / name)
        if name == table:
            frame.loc[0, column] = value
        frame.to_csv(forged / name, index=False)
    assert main(["plot", str(forged), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "figs").exists()
