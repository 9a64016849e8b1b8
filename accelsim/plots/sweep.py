"""The figures of a sweep (``accelsim sweep --out``): speedup and costs against array size,
slices, heatmaps over the swept settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.config import FIELD_NAMES
from accelsim.energy.account import ENERGY_COMPONENTS
from accelsim.plots.common import _colours, _save, _short
from accelsim.plots.run import write_figures


SETTINGS = (("dataflow", "{}", "dataflow"), ("ifmap_sram_kib", "I{:g}", "I: ifmap SRAM, KiB"),
            ("filter_sram_kib", "F{:g}", "F: filter SRAM, KiB"), ("ofmap_sram_kib", "O{:g}KiB", "O: ofmap SRAM"),
            ("dram_bandwidth_bytes_per_cycle", "{:g}B/cyc", "DRAM bytes per cycle"))


def _array_order(summary: pd.DataFrame) -> list[str]:
    arrays = summary[["array_rows", "array_cols"]].drop_duplicates()
    arrays = arrays.assign(pes=arrays["array_rows"] * arrays["array_cols"]).sort_values(["pes", "array_rows"])
    return [f"{r}×{c}" for r, c in zip(arrays["array_rows"], arrays["array_cols"])]


def _varying(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The swept parameters besides the array that take more than one value: (column, label
    pattern, what the label means)."""
    named = {column for column, _, _ in SETTINGS}
    others = [(column, f"{column}={{}}", column) for column in FIELD_NAMES
              if column not in named and column not in ("array_rows", "array_cols")]
    return [(column, pattern, meaning) for column, pattern, meaning in [*SETTINGS, *others]
            if column in table.columns and table[column].nunique() > 1]


def _with_labels(summary: pd.DataFrame) -> pd.DataFrame:
    """``array`` (``"R×C"``) and ``setting``: the other swept parameters that vary, as text."""
    table = summary.assign(array=summary["array_rows"].astype(str) + "×" + summary["array_cols"].astype(str))
    varying = _varying(table)
    table["setting"] = [" ".join(pattern.format(row[column]) for column, pattern, _ in varying) or "all"
                        for _, row in table.iterrows()]
    return table


def _settings_meaning(table: pd.DataFrame) -> str:
    return " · ".join(meaning for _, _, meaning in _varying(table)) or "one setting"


def sweep_speedup_figure(summary: pd.DataFrame) -> Figure:
    """Speedup against dense vs array size, one line per scheduler (mean over the other swept
    parameters, band: their range), with the theoretical FLOP reduction as a reference."""
    table = _with_labels(summary)
    arrays = _array_order(table)
    dataflows = list(dict.fromkeys(table["dataflow"]))
    names = [name for name in dict.fromkeys(table["scheduler"]) if name != "dense"]
    colours = _colours(list(dict.fromkeys(table["scheduler"])))
    figure, axes = plt.subplots(1, len(dataflows), figsize=(6 * len(dataflows), 4), squeeze=False, sharey=True)
    x = np.arange(len(arrays))
    for axis, dataflow in zip(axes[0], dataflows):
        chosen = table[table["dataflow"] == dataflow]
        for name in names:
            speed = chosen[chosen["scheduler"] == name].groupby("array")["speedup_vs_dense"]
            mean, low, high = (speed.mean().reindex(arrays), speed.min().reindex(arrays), speed.max().reindex(arrays))
            axis.plot(x, mean, marker="o", label=name, color=colours[name])
            axis.fill_between(x, low, high, color=colours[name], alpha=0.15)
        reduction = chosen[chosen["scheduler"] != "dense"].groupby("array")["flop_reduction"].mean().reindex(arrays)
        axis.plot(x, reduction, linestyle="--", color="black", label="FLOP reduction (theoretical)")
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_xticks(x, arrays)
        axis.set_xlabel("array size, PE rows × columns")
        axis.set_title(f"{str(dataflow).upper()} dataflow")
    axes[0][0].set_ylabel("speedup vs dense on the same hardware, ×")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"{summary['network'].iloc[0]}: speedup vs array size "
                    f"(line: mean over the other swept parameters, band: their range)", fontsize=10)
    figure.tight_layout()
    return figure


#: the panels of :func:`sweep_cost_figure`: column of :func:`sweep_costs`, axis label
COSTS = (("latency_us", "latency per image, µs"), ("energy_uj", "energy per image, µJ"),
         ("edp_uj_us", "energy-delay product per image, µJ·µs"))


def sweep_costs(summary: pd.DataFrame, clock_mhz: float | None = None) -> pd.DataFrame:
    """``summary`` with ``latency_us`` (cycles per image at ``clock_mhz`` if given, else at each
    row's ``clock_mhz``; with batches, a batch's latency over its images), ``energy_uj`` (per
    image) and ``edp_uj_us`` (their product) added."""
    images = summary["images"].to_numpy(dtype=float)
    cycles = summary["cycles_total"].to_numpy(dtype=float) / images
    if clock_mhz is not None:
        latency = cycles / clock_mhz
    elif "clock_mhz" in summary.columns:
        latency = cycles / summary["clock_mhz"].to_numpy(dtype=float)
    else:  # older tables: the mean latency of a run of one batch
        batch = summary["batch"].to_numpy(dtype=float) if "batch" in summary.columns else 1.0
        latency = summary["latency_ms"].to_numpy(dtype=float) * 1e3 / batch
    if "energy_total_pj" in summary.columns:
        energy = summary["energy_total_pj"].to_numpy(dtype=float)
    else:
        energy = summary[[f"energy_{component}_pj" for component in ENERGY_COMPONENTS]].to_numpy(dtype=float).sum(1)
    energy = energy / images / 1e6
    return summary.assign(latency_us=latency, energy_uj=energy, edp_uj_us=latency * energy)


def sweep_slices_figure(summary: pd.DataFrame, clock_mhz: float | None = None) -> Figure:
    """Speedup against dense and energy per image vs array slices P, one line per scheduler
    and array (mean over the other swept parameters, band: their range)."""
    table = sweep_costs(_with_labels(summary), clock_mhz)
    arrays = _array_order(table)
    if "slice_rows" in table.columns and table["slice_rows"].nunique() > 1:  # a line per height of slice
        heights = sorted(table["slice_rows"].unique())
        label = {height: "all rows" if height == 0 else f"{height}-row slices" for height in heights}
        table = table.assign(array=table["array"] + ", " + table["slice_rows"].map(label))
        arrays = [f"{array}, {label[height]}" for array in arrays for height in heights]
    names = list(dict.fromkeys(table["scheduler"]))
    colours = _colours(names)
    styles = dict(zip(arrays, ("-", "--", ":", "-.") * len(arrays)))
    figure, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    for (name, array), rows in table.groupby(["scheduler", "array"], sort=False):
        for axis, column in zip(axes, ("speedup_vs_dense", "energy_uj")):
            values = rows.groupby("array_slices")[column]
            slices = np.array(sorted(rows["array_slices"].unique()))
            label = name if len(arrays) == 1 else f"{name}, {array}"
            axis.plot(slices, values.mean().reindex(slices), marker="o", linestyle=styles[array],
                      color=colours[name], label=label)
            axis.fill_between(slices, values.min().reindex(slices), values.max().reindex(slices),
                              color=colours[name], alpha=0.12)
    for axis, label in zip(axes, ("speedup vs dense on the same hardware, ×", "energy per image, µJ")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("array slices P")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
    axes[0].axhline(1.0, color="grey", linewidth=0.8)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"{summary['network'].iloc[0]}: speedup and energy vs array slices "
                    f"(line: mean over the other swept parameters, band: their range)", fontsize=10)
    return figure


def _spans_decades(values: np.ndarray) -> bool:
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 1 and float(positive.max()) / float(positive.min()) >= 10


def sweep_cost_figure(summary: pd.DataFrame, clock_mhz: float | None = None) -> Figure:
    """Latency, energy and energy-delay product per image vs array size: one row of panels per
    dataflow, one line per scheduler (dense dashed: the baseline), the mean over the other
    swept parameters with their range as a band; an axis is logarithmic where its values
    span a decade or more."""
    table = _with_labels(sweep_costs(summary, clock_mhz))
    arrays = _array_order(table)
    dataflows = list(dict.fromkeys(table["dataflow"]))
    names = list(dict.fromkeys(table["scheduler"]))
    colours = _colours(names)
    figure, axes = plt.subplots(len(dataflows), len(COSTS), figsize=(4.2 * len(COSTS) + 2, 3.2 * len(dataflows) + 0.8),
                                squeeze=False, sharex=True, sharey="col", layout="constrained")
    x = np.arange(len(arrays))
    for row, dataflow in enumerate(dataflows):
        chosen = table[table["dataflow"] == dataflow]
        for column, (value, label) in enumerate(COSTS):
            axis = axes[row][column]
            for name in names:
                grouped = chosen[chosen["scheduler"] == name].groupby("array")[value]
                mean, low, high = (grouped.mean().reindex(arrays), grouped.min().reindex(arrays),
                                   grouped.max().reindex(arrays))
                dense = name == "dense"
                axis.plot(x, mean, marker="o", markersize=4, color=colours[name], linestyle="--" if dense else "-",
                          linewidth=2.2 if dense else 1.4, zorder=3 if dense else 2,
                          label="dense (baseline)" if dense else name)
                axis.fill_between(x, low, high, color=colours[name], alpha=0.12, linewidth=0)
            axis.set_title(f"{label.split(',')[0]} — {str(dataflow).upper()}", fontsize=9)
            axis.set_ylabel(label, fontsize=9)
            axis.grid(which="major", linewidth=0.4, alpha=0.5)
            axis.set_xticks(x, arrays)
            if row == len(dataflows) - 1:
                axis.set_xlabel("array size, PE rows × columns")
    for column, (value, _) in enumerate(COSTS):
        if _spans_decades(table[value].to_numpy(dtype=float)):
            _log_axis(axes[0][column])  # shared down the column
        else:
            axes[0][column].set_ylim(bottom=0)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=8)
    clock = f" at {clock_mhz:g} MHz" if clock_mhz is not None else ""
    figure.suptitle(f"{summary['network'].iloc[0]}: latency{clock}, energy and EDP per image vs array size "
                    f"(line: mean over the other swept parameters, band: their range)", fontsize=10)
    return figure


def _log_axis(axis) -> None:
    """A logarithmic y axis with labels at 1, 2 and 5 of every decade, written out in full."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_yscale("log")
    axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}"))
    axis.yaxis.set_minor_formatter(NullFormatter())


def _text_colour(colour: tuple) -> str:
    red, green, blue = colour[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def _grid(table: pd.DataFrame, scheduler: str, value: str, settings: list[str], arrays: list[str]) -> np.ndarray:
    return (table[table["scheduler"] == scheduler]
            .pivot_table(index="setting", columns="array", values=value, aggfunc="mean")
            .reindex(index=settings, columns=arrays).to_numpy(dtype=float))


def _draw_cells(axis, data: np.ndarray, cmap, norm, text, fontsize: float):
    image = axis.imshow(data, cmap=cmap, norm=norm, aspect="auto")
    for (row, column), number in np.ndenumerate(data):
        if np.isfinite(number):
            axis.text(column, row, text(number), ha="center", va="center", fontsize=fontsize,
                      color=_text_colour(cmap(norm(number))))
    return image


def heatmap_figure(summary: pd.DataFrame, value: str = "speedup_vs_dense") -> Figure:
    """``value`` over array size × the other swept parameters, one panel per scheduler. The
    dense baseline comes first: for the speedup, its latency per image on each hardware point
    (what 1.00× stands for); for another value, its own value on the common scale."""
    from matplotlib.colors import LogNorm, Normalize

    table = _with_labels(sweep_costs(summary))
    arrays = _array_order(table)
    settings = list(dict.fromkeys(table["setting"]))
    schedulers = list(dict.fromkeys(table["scheduler"]))
    gated = [name for name in schedulers if name != "dense"]
    speedup = value == "speedup_vs_dense"
    baseline = "dense" in schedulers and (speedup and bool(gated))
    names = gated if speedup and gated else ([*(["dense"] if "dense" in schedulers else []), *gated] or schedulers)
    scale, text = (100.0, "{:.0f}") if value == "pe_utilization" else (1.0, "{:.2f}")
    label, what = {"speedup_vs_dense": ("speedup vs dense, ×", "speedup against dense on the same hardware"),
                   "pe_utilization": ("PE utilisation, %", "PE utilisation")}.get(value, (value, value))
    panels = len(names) + baseline
    rows = -(-panels // 4)
    columns = -(-panels // rows)
    fontsize = 7 if len(arrays) <= 6 else 6
    longest = max(len(setting) for setting in settings)
    width = 1.0 + 0.07 * longest + columns * (0.55 * len(arrays) + 0.5) + 1.2 * (1 + baseline)
    figure, grid = plt.subplots(rows, columns, sharey=True, squeeze=False, layout="constrained",
                                figsize=(width, rows * (1.5 + 0.3 * len(settings)) + 0.4))
    axes = list(grid.ravel())
    for spare in axes[panels:]:
        spare.set_visible(False)
    axes = axes[:panels]
    grids = {name: _grid(table, name, value, settings, arrays) * scale for name in names}
    values = np.concatenate([grid.ravel() for grid in grids.values()])
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    cmap = plt.get_cmap("viridis")
    if baseline:
        latency = _grid(table, "dense", "latency_us", settings, arrays)
        positive = latency[np.isfinite(latency) & (latency > 0)]
        norm = (LogNorm(positive.min(), positive.max()) if _spans_decades(latency.ravel())
                else Normalize(0, positive.max() if positive.size else 1.0))
        dense_image = _draw_cells(axes[0], latency, plt.get_cmap("Greys"), norm, _short, fontsize)
        axes[0].set_title("dense (baseline): latency per image, µs", fontsize=8)
        bar = figure.colorbar(dense_image, ax=axes[0], shrink=0.9, pad=0.02)
        bar.set_label("dense latency per image, µs", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    norm = Normalize(low, high if high > low else low + 1e-9)
    for axis, name in zip(axes[baseline:], names):
        image = _draw_cells(axis, grids[name], cmap, norm, text.format, fontsize)
        axis.set_title(f"{name} (baseline)" if name == "dense" and not speedup else name, fontsize=9)
    for index, axis in enumerate(axes):
        axis.set_xticks(range(len(arrays)), arrays, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
        if index + columns >= panels:  # nothing below it
            axis.set_xlabel("array, PE rows × columns", fontsize=8)
        if index % columns == 0:
            axis.set_yticks(range(len(settings)), settings, fontsize=8)
            axis.set_ylabel(_settings_meaning(table), fontsize=8)
    figure.colorbar(image, ax=axes[baseline:], label=label, shrink=0.9, pad=0.01)
    figure.suptitle(f"{summary['network'].iloc[0]}: {what}, per array size (columns) and swept setting (rows)",
                    fontsize=10)
    return figure


def write_sweep_figures(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path,
                        formats: Sequence[str] = ("png", "svg"), clock_mhz: float | None = None) -> list[Path]:
    """The sweep figures (speedup, and latency, energy and EDP vs array size; speedup and energy
    vs array slices when the sweep varies them; heatmaps of speedup and utilisation) and, for the sweep's first point, every figure of :func:`write_figures`
    under ``first-point/``."""
    figures = {"speedup_vs_array": sweep_speedup_figure(summary),
               "latency_energy_vs_array": sweep_cost_figure(summary, clock_mhz),
               "heatmap_speedup": heatmap_figure(summary, "speedup_vs_dense"),
               "heatmap_utilization": heatmap_figure(summary, "pe_utilization")}
    if "array_slices" in summary.columns and summary["array_slices"].nunique() > 1:
        figures["speedup_energy_vs_slices"] = sweep_slices_figure(summary, clock_mhz)
    written = _save(figures, Path(out_dir), formats)
    first = summary["point"].iloc[0]
    row = summary[summary["point"] == first].iloc[0]
    swept = [column for column in summary.columns if column in FIELD_NAMES and summary[column].nunique() > 1]
    label = f"sweep point {first}: " + (", ".join(f"{column} = {row[column]}" for column in swept) or "the only one")
    return written + write_figures(layers[layers["point"] == first], summary[summary["point"] == first],
                                   Path(out_dir) / "first-point", formats, clock_mhz, label)

