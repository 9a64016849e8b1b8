"""Figures from the result tables of a run: what a reader needs without the code.

Each function takes the ``summary`` or ``layers`` table (columns in :mod:`accelsim.report`) and
returns a matplotlib Figure; :func:`write_figures` writes them all (a run: speedup, attribution,
energy per component with the saving against dense, per-layer cycles, latency, timeline) and
:func:`write_sweep_figures` a sweep's (speedup, and latency, energy and EDP per image against
array size; heatmaps with the dense baseline). Axes carry units and latency axes start at 0;
schedulers, energy components and kinds of lost cycles keep their colours in every figure.
:func:`read_results` reads and checks the tables of an
``accelsim run`` or ``accelsim sweep`` output folder, so that no figure is drawn from a cut or
foreign file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.config import FIELD_NAMES
from accelsim.energy.account import COMPONENTS, ENERGY_COMPONENTS
from accelsim.errors import AccelsimError
from accelsim.report import LOST_COLUMNS


class ResultsError(AccelsimError, ValueError):
    """A results table cannot be plotted; the message names the file and the column."""


#: how the figures name each kind of lost cycles (a kind not named here shows its column's name)
LOSS_LABELS = {"lost_fill_drain": "fill and drain", "lost_partial_tiles": "partial tiles",
               "lost_group_boundary": "group boundary",
               "lost_granularity": "off outputs no fold can leave out (trace's limit)",
               "lost_gated_idle": "other off outputs in running folds",
               "lost_imbalance": "slices waiting for the slowest", "lost_stall": "DRAM stalls"}
#: where the cycles go, bottom up: the ideal, then every kind of loss
ATTRIBUTION = (("cycles_ideal", "ideal (needed MACs / PEs)"),
               *((column, LOSS_LABELS.get(column, column.removeprefix("lost_").replace("_", " ")))
                 for column in LOST_COLUMNS))
#: columns that tables written before them lack; read as 0
_ZERO_IF_ABSENT = ("lost_imbalance", "energy_crossbar_pj")


def _colours(names: Sequence[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10")
    return {name: palette(index % 10) for index, name in enumerate(names)}


def _hardware(table: pd.DataFrame) -> str:
    """``"32×32 OS"``: the array and dataflow of the table's first row."""
    row = table.iloc[0]
    return f"{row['array_rows']}×{row['array_cols']} {str(row['dataflow']).upper()}"


def _title(summary: pd.DataFrame) -> str:
    return f"{summary['network'].iloc[0]} on {_hardware(summary)}, {summary['images'].iloc[0]} image(s)"


def speedup_figure(summary: pd.DataFrame) -> Figure:
    """Speedup against dense per scheduler, beside the theoretical FLOP reduction."""
    figure, axis = plt.subplots(figsize=(7, 4))
    names = list(summary["scheduler"])
    x = np.arange(len(names))
    axis.bar(x, summary["speedup_vs_dense"], color=[_colours(names)[n] for n in names], label="speedup (cycles)")
    axis.scatter(x, summary["flop_reduction"], marker="_", s=900, color="black", zorder=3,
                 label="FLOP reduction (theoretical)")
    axis.axhline(1.0, color="grey", linewidth=0.8)
    for index, row in enumerate(summary.itertuples()):
        axis.annotate(f"{row.realized_fraction:.0%}", (index, row.speedup_vs_dense), ha="center",
                      va="bottom", fontsize=8)
    axis.set_xticks(x, names, rotation=20)
    heights = summary[["flop_reduction", "speedup_vs_dense"]].to_numpy(dtype=float)
    top = float(heights[np.isfinite(heights)].max()) if np.isfinite(heights).any() else 1.0
    axis.set_ylim(0, top * 1.35)
    axis.set_ylabel("× against dense on the same hardware")
    axis.set_title(f"Speedup and FLOP reduction — {_title(summary)}\n(labels: realized fraction)")
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def _stacked_bars(summary: pd.DataFrame, parts: Sequence[tuple[str, np.ndarray, object]], ylabel: str,
                  title: str, figsize: tuple[float, float] = (10, 4)) -> tuple[Figure, np.ndarray]:
    """One stacked bar per scheduler: ``parts`` are (label, heights, colour), bottom first.
    Returns the figure and the bar tops."""
    figure, axis = plt.subplots(figsize=figsize)
    names = list(summary["scheduler"])
    bottom = np.zeros(len(names))
    for label, values, colour in parts:
        axis.bar(names, values, bottom=bottom, label=label, color=colour, edgecolor="white", linewidth=0.4)
        bottom = bottom + values
    axis.set_ylabel(ylabel)
    axis.set_title(f"{title} — {_title(summary)}")
    axis.tick_params(axis="x", rotation=20)
    handles, labels = axis.get_legend_handles_labels()  # the legend reads top-down like the stacks
    axis.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure, bottom


def _per_image(summary: pd.DataFrame, column: str, scale: float = 1.0) -> np.ndarray:
    return summary[column].to_numpy(dtype=float) / summary["images"].to_numpy(dtype=float) / scale


def _attribution_colours() -> dict[str, tuple]:
    """One colour per column of :data:`ATTRIBUTION`, the same in every figure."""
    set2, spare = plt.get_cmap("Set2"), plt.get_cmap("tab20b")
    fixed = {"cycles_ideal": set2(0), "lost_fill_drain": set2(1), "lost_partial_tiles": set2(2),
             "lost_group_boundary": set2(3), "lost_granularity": set2(4), "lost_gated_idle": set2(5),
             "lost_imbalance": "#7570b3", "lost_stall": set2(6)}
    others = [column for column, _ in ATTRIBUTION if column not in fixed]
    return {**fixed, **{column: spare(index % 20) for index, column in enumerate(others)}}


def attribution_figure(summary: pd.DataFrame) -> Figure:
    """Where each scheduler's cycles go: ideal work and every kind of loss, stacked."""
    colours = _attribution_colours()
    parts = [(label, _per_image(summary, column, 1e3), colours[column]) for column, label in ATTRIBUTION
             if column == "cycles_ideal" or summary[column].to_numpy(dtype=float).any()]
    figure, _ = _stacked_bars(summary, parts, "thousand cycles per image",
                              "Why speedup falls short of the FLOP reduction")
    figure.tight_layout()
    return figure


#: one colour per energy component, the same in every figure (declared with the component);
#: the components too small to see share :data:`OTHER_COLOUR`
ENERGY_COLOURS = {component.name: component.colour for component in COMPONENTS}
OTHER_COLOUR = "#b0b0b0"
#: an energy component below this share of the total in every bar joins "other"
OTHER_SHARE = 0.02


def energy_groups(summary: pd.DataFrame, threshold: float = OTHER_SHARE) -> tuple[list[str], list[str]]:
    """``(shown, other)``: the energy components drawn on their own, and those below
    ``threshold`` of the bar's total in every bar, drawn together as "other"."""
    parts = summary[[f"energy_{component}_pj" for component in ENERGY_COMPONENTS]].to_numpy(dtype=float)
    totals = parts.sum(axis=1, keepdims=True)
    share = np.divide(parts, totals, out=np.zeros_like(parts), where=totals > 0)
    small = (share < threshold).all(axis=0)
    return ([c for c, s in zip(ENERGY_COMPONENTS, small) if not s], [c for c, s in zip(ENERGY_COMPONENTS, small) if s])


def _saving_label(saving: float) -> str:
    """``-0.102`` → ``"−10 %"``: the change in energy against dense, one decimal under 10 %."""
    change = -saving * 100
    text = f"{abs(change):.1f}" if abs(change) < 9.95 else f"{abs(change):.0f}"
    if text in ("0.0", "0"):
        return "±0 %"
    return f"{'−' if change < 0 else '+'}{text} %"


def energy_figure(summary: pd.DataFrame) -> Figure:
    """Energy per image by component, per scheduler: components under 2 % of every bar as
    "other", each bar labelled with its total and its saving against dense."""
    shown, other = energy_groups(summary)
    parts = [(component.replace("_", " "), _per_image(summary, f"energy_{component}_pj", 1e6),
              ENERGY_COLOURS[component]) for component in shown]
    if other:
        small = sum(_per_image(summary, f"energy_{component}_pj", 1e6) for component in other)
        names = [component.replace("_", " ") for component in other
                 if summary[f"energy_{component}_pj"].to_numpy(dtype=float).any()] or ["none spent"]
        listed = ", ".join(names)
        parts.append((f"other (< {OTHER_SHARE:.0%} of each bar):\n" + "\n".join(_wrap(listed, 28)), small,
                      OTHER_COLOUR))
    figure, tops = _stacked_bars(summary, parts, "energy per image, µJ", "Energy per image",
                                 figsize=(10, 4.4))
    axis = figure.axes[0]
    dense = summary.index[summary["scheduler"] == "dense"]
    base = tops[summary.index.get_loc(dense[0])] if len(dense) else float("nan")
    for index, top in enumerate(tops):
        if summary["scheduler"].iloc[index] == "dense":
            note = "baseline"
        elif np.isfinite(base) and base > 0:
            note = _saving_label(1 - top / base)
        else:
            note = ""
        axis.annotate(f"{_short(top)} µJ\n{note}".rstrip(), (index, top), xytext=(0, 2), textcoords="offset points",
                      ha="center", va="bottom", fontsize=8)
    axis.set_ylim(0, max(float(tops.max()), 1e-12) * 1.2)
    axis.set_title(f"Energy per image (labels: total, change against dense) — {_title(summary)}", fontsize=10)
    figure.tight_layout()
    return figure


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [text]


def _run_unit(layers: pd.DataFrame) -> str:
    """What one ``image`` of the layers table stands for: an image, or a batch of them."""
    batch = int(layers["batch"].max()) if "batch" in layers.columns else 1
    return "image" if batch <= 1 else f"batch of {batch} images"


def _layer_means(layers: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    return layers.groupby(["layer", "scheduler"], sort=False)[list(columns)].mean()


def layers_figure(layers: pd.DataFrame) -> Figure:
    """Per layer, mean over images: cycles per scheduler (computing and stalled), where the
    fastest gated scheduler's cycles go beside dense's total, speedup and PE utilisation."""
    names = list(dict.fromkeys(layers["scheduler"]))
    order = list(dict.fromkeys(layers["layer"]))
    attribution = [column for column, _ in ATTRIBUTION]
    means = _layer_means(layers, ["cycles_compute", "cycles_stall", "cycles_total", *attribution,
                                  "speedup_vs_dense", "pe_utilization"])
    totals = layers.groupby("scheduler", sort=False)["cycles_total"].sum()
    gated = [name for name in names if name != "dense"]
    focus = min(gated, key=lambda name: (totals[name], names.index(name))) if gated else names[0]
    figure, (cycles, where, speedup, utilisation) = plt.subplots(
        4, 1, figsize=(max(9, len(order) * 0.5 + 3), 11), sharex=True, layout="constrained",
        height_ratios=(1.2, 1.2, 0.9, 0.9))
    width = 0.8 / len(names)
    x = np.arange(len(order))
    colours = _colours(names)

    def chosen(name: str) -> pd.DataFrame:
        return means.xs(name, level="scheduler").reindex(order)

    for index, name in enumerate(names):
        rows, at = chosen(name), x - 0.4 + (index + 0.5) * width
        compute, stall = rows["cycles_compute"] / 1e3, rows["cycles_stall"] / 1e3
        cycles.bar(at, compute, width, color=colours[name], label=name)
        cycles.bar(at, stall, width, bottom=compute, color=colours[name], alpha=0.35, hatch="///",
                   edgecolor=colours[name], linewidth=0)
        speedup.bar(at, rows["speedup_vs_dense"], width, color=colours[name])
        utilisation.bar(at, rows["pe_utilization"] * 100, width, color=colours[name])
    cycles.bar([0], [0], color="grey", alpha=0.35, hatch="///", label="hatched: DRAM stall")
    unit = _run_unit(layers)
    cycles.set_ylabel(f"thousand cycles\nper {unit}")
    cycles.set_title("Cycles per layer: computing (solid) and stalled on DRAM (hatched)", fontsize=9)
    cycles.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))

    palette = _attribution_colours()
    rows, bottom = chosen(focus), np.zeros(len(order))
    for column, label in ATTRIBUTION:
        values = rows[column].to_numpy(dtype=float) / 1e3
        if column != "cycles_ideal" and not np.nan_to_num(values).any():
            continue  # a kind of loss this scheduler never has
        where.bar(x, values, 0.7, bottom=bottom, color=palette[column], label=label)
        bottom += values
    if "dense" in names and focus != "dense":
        where.scatter(x, chosen("dense")["cycles_total"] / 1e3, marker="_", s=250, linewidths=2, color="black",
                      zorder=3, label="dense: total")
    handles, labels = where.get_legend_handles_labels()
    where.legend(handles[::-1], labels[::-1], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    where.set_ylabel(f"thousand cycles\nper {unit}")
    where.set_title(f"Where the cycles of {focus} go, per layer", fontsize=9)

    speedup.axhline(1.0, color="grey", linewidth=0.8)
    speedup.set_ylabel("speedup vs\ndense, ×")
    utilisation.set_ylabel("PE utilisation, %")
    utilisation.set_xticks(x, order, rotation=60, ha="right", rotation_mode="anchor", fontsize=7)
    utilisation.set_xlabel("layer")
    for axis in (cycles, where, speedup, utilisation):
        axis.set_xlim(-0.6, len(order) - 0.4)
        axis.grid(axis="y", linewidth=0.4, alpha=0.5)
        axis.set_axisbelow(True)
    runs = layers.groupby("scheduler", sort=False)["image"].nunique().iloc[0]
    over = f"{runs} image(s)" if unit == "image" else f"{runs} batches"
    figure.suptitle(f"{layers['network'].iloc[0]} on {_hardware(layers)}: per layer, mean over {over}")
    return figure


def results_clock_mhz(layers: pd.DataFrame, summary: pd.DataFrame | None = None) -> float | None:
    """The clock the results were run at: the summary's ``clock_mhz`` column if it has one
    value, else cycles over latency in ``layers`` (None if they ran no cycles)."""
    if summary is not None and "clock_mhz" in summary.columns and summary["clock_mhz"].nunique() == 1:
        return float(summary["clock_mhz"].iloc[0])
    if "clock_mhz" in layers.columns and layers["clock_mhz"].nunique() == 1:
        return float(layers["clock_mhz"].iloc[0])
    latency = float(layers["latency_us"].sum())
    return float(layers["cycles_total"].sum()) / latency if latency > 0 else None


def latency_figure(layers: pd.DataFrame, clock_mhz: float | None = None) -> Figure:
    """Distribution over images of the network latency, per scheduler: at ``clock_mhz`` if
    given, else at the clock of the results (their ``latency_us``)."""
    if clock_mhz is None:
        per_image = layers.groupby(["scheduler", "image"], sort=False)["latency_us"].sum() / 1e3
        clock_mhz = results_clock_mhz(layers)
    else:
        per_image = layers.groupby(["scheduler", "image"], sort=False)["cycles_total"].sum() / clock_mhz / 1e3
    names = list(dict.fromkeys(layers["scheduler"]))
    figure, axis = plt.subplots(figsize=(7, 4))
    samples = [per_image.xs(name).to_numpy(dtype=float) for name in names]
    axis.boxplot(samples, tick_labels=names)
    top = max((float(np.nanmax(sample)) for sample in samples if sample.size), default=1.0)
    for index, sample in enumerate(samples, start=1):
        if sample.size:
            axis.annotate(f"{np.median(sample):.3g}", (index, float(np.nanmax(sample))), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom", fontsize=8)
    axis.set_ylim(0, (top if top > 0 else 1.0) * 1.15)  # from zero: the gap between boxes reads as a ratio
    axis.set_ylabel(f"latency per {_run_unit(layers)}, ms" + (f" at {clock_mhz:g} MHz" if clock_mhz else ""))
    axis.set_title(f"Latency over images (labels: median) — {layers['network'].iloc[0]} on {_hardware(layers)}",
                   fontsize=10)
    axis.tick_params(axis="x", rotation=20)
    axis.grid(axis="y", linewidth=0.4, alpha=0.5)
    figure.tight_layout()
    return figure


def timeline_figure(layers: pd.DataFrame, summary: pd.DataFrame | None = None) -> Figure:
    """Gantt chart of the first image of each scheduler: per layer, one bar per scheduler from
    its start cycle, solid while the array computes, hatched while it stalls."""
    from accelsim.timeline import start_cycles

    table = layers.assign(start_cycle=start_cycles(layers))
    names = list(dict.fromkeys(table["scheduler"]))
    first = table.groupby("scheduler", sort=False)["image"].transform("min")
    table = table[table["image"] == first]
    order = list(dict.fromkeys(table["layer"]))
    colours = _colours(names)
    height = 0.8 / len(names)
    figure, axis = plt.subplots(figsize=(10, 1.2 + len(order) * (0.2 + 0.06 * len(names))))
    row = {layer: index for index, layer in enumerate(order)}
    for index, name in enumerate(names):
        chosen = table[table["scheduler"] == name]
        y = np.array([row[layer] for layer in chosen["layer"]]) - 0.4 + (index + 0.5) * height
        start = chosen["start_cycle"].to_numpy(dtype=float) / 1e3
        compute = chosen["cycles_compute"].to_numpy(dtype=float) / 1e3
        stall = chosen["cycles_stall"].to_numpy(dtype=float) / 1e3
        image = int(chosen["image"].iloc[0])
        axis.barh(y, compute, height, left=start, color=colours[name], label=f"{name} (image {image})")
        axis.barh(y, stall, height, left=start + compute, color=colours[name], alpha=0.35, hatch="///",
                  edgecolor=colours[name], linewidth=0)
    axis.barh([0], [0], color="grey", alpha=0.35, hatch="///", label="hatched: DRAM stall")
    axis.set_yticks(range(len(order)), order, fontsize=7)
    axis.invert_yaxis()  # the first layer on top, as time runs down the network
    axis.set_xlim(left=0)
    axis.set_xlabel("thousand cycles from the start of the image")
    axis.grid(axis="x", linewidth=0.4, alpha=0.5)
    title = _title(summary) if summary is not None else str(table["network"].iloc[0])
    axis.set_title(f"Timeline of one image per scheduler — {title}", fontsize=10)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


#: swept parameters besides the array, how a figure labels them, and what the label means
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


def _short(number: float) -> str:
    return f"{number:.0f}" if abs(number) >= 100 else f"{number:.3g}"


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
    return written + write_figures(layers[layers["point"] == first], summary[summary["point"] == first],
                                   Path(out_dir) / "first-point", formats, clock_mhz)


def _save(figures: dict[str, Figure], out: Path, formats: Sequence[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        for extension in formats:
            path = out / f"{name}.{extension}"
            figure.savefig(path, dpi=120, bbox_inches="tight")
            written.append(path)
        plt.close(figure)
    return written


def write_figures(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path,
                  formats: Sequence[str] = ("png", "svg"), clock_mhz: float | None = None) -> list[Path]:
    """Write every figure in each format into ``out_dir``; returns the paths. Latency is at
    ``clock_mhz`` if given, else at the clock the results were run at."""
    figures = {"speedup": speedup_figure(summary), "attribution": attribution_figure(summary),
               "energy": energy_figure(summary), "layers": layers_figure(layers),
               "latency": latency_figure(layers, clock_mhz), "timeline": timeline_figure(layers, summary)}
    return _save(figures, Path(out_dir), formats)


# What the figures read. Counts and energies are never missing in a whole table; a ratio is NaN
# where its denominator is 0 (a layer of 0 cycles), so it need only be a number.
_TEXT = {"summary": ("scheduler", "network", "dataflow"), "layers": ("scheduler", "layer")}
_FINITE = {"summary": ("images", "layers", "array_rows", "array_cols", "cycles_total", "cycles_ideal",
                       *LOST_COLUMNS, *(f"energy_{component}_pj" for component in ENERGY_COMPONENTS)),
           "layers": ("image", "cycles_compute", "cycles_stall", "cycles_total", "cycles_ideal", *LOST_COLUMNS,
                      "latency_us")}
_NUMBERS = {"summary": ("speedup_vs_dense", "flop_reduction", "realized_fraction", "pe_utilization"),
            "layers": ("speedup_vs_dense", "pe_utilization")}


def _read_table(path: Path) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file; expected the output folder of accelsim run or sweep --out") from None
    except OSError as error:
        raise ResultsError(f"{path}: cannot read ({error.strerror or error})") from None
    if not data.strip():
        raise ResultsError(f"{path}: empty; expected a results table")
    if not data.endswith(b"\n"):  # every table accelsim writes ends with a newline
        raise ResultsError(f"{path}: truncated (the last row is cut off); rerun to rewrite it")
    try:
        table = pd.read_csv(io.BytesIO(data), encoding="utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot be read as a results table ({' '.join(str(error).split())})") from None
    if table.empty:
        raise ResultsError(f"{path}: no rows; expected a results table")
    return table


def _check_columns(table: pd.DataFrame, path: Path, kind: str, sweep: bool) -> None:
    for column in _ZERO_IF_ABSENT:
        if column not in table.columns:
            table[column] = 0.0
    wanted = (*(("point",) if sweep else ()), *_TEXT[kind], *_FINITE[kind], *_NUMBERS[kind])
    source = "accelsim sweep" if sweep else "accelsim run"
    for column in wanted:
        if column not in table.columns:
            raise ResultsError(f"{path}: {column}: missing; expected a {kind} table from {source}")
    for column in (*(("point",) if sweep else ()), *_TEXT[kind]):
        empty = table[column].isna()
        if empty.any():
            raise ResultsError(f"{path}: {column}: empty in row {int(empty.to_numpy().argmax()) + 2}")
    for column in (*_FINITE[kind], *_NUMBERS[kind]):
        values = pd.to_numeric(table[column], errors="coerce")
        wrong = values.isna() & table[column].notna()
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            raise ResultsError(f"{path}: {column}: expected numbers, got {table[column].iloc[row]!r} in row {row + 2}")
        table[column] = values
    for column in _FINITE[kind]:
        bad = ~np.isfinite(table[column].to_numpy(dtype=float))
        if bad.any():
            row = int(bad.argmax())
            raise ResultsError(f"{path}: {column}: expected a finite number in row {row + 2}, got "
                               f"{table[column].iloc[row]!r}")


def read_results(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """``(layers, summary, sweep)`` of an ``accelsim run`` folder (``layers.csv``,
    ``summary.csv``) or an ``accelsim sweep`` one (``results.csv``, ``summary.csv``), checked:
    whole files, the columns the figures read, numbers where numbers belong, and one layer row
    per layer, image and scheduler of the summary. Errors name the file and the column."""
    folder = Path(folder)
    sweep = (folder / "results.csv").exists()
    summary_path, layers_path = folder / "summary.csv", folder / ("results.csv" if sweep else "layers.csv")
    layers, summary = _read_table(layers_path), _read_table(summary_path)
    _check_columns(summary, summary_path, "summary", sweep)
    _check_columns(layers, layers_path, "layers", sweep)
    by = ["point", "scheduler"] if sweep else ["scheduler"]
    expected = summary.set_index(by)
    if expected.index.duplicated().any():
        raise ResultsError(f"{summary_path}: scheduler: a {'point and ' if sweep else ''}scheduler appears twice")
    expected = (expected["images"] * expected["layers"]).astype(int)
    found = layers.groupby(by, sort=False).size()
    for index in expected.index.union(found.index, sort=False):
        want, have = int(expected.get(index, 0)), int(found.get(index, 0))
        if want != have:
            name = f"{index[1]} of point {index[0]}" if sweep else index
            raise ResultsError(f"{layers_path}: {have} rows for scheduler {name}, expected {want} "
                               f"(images x layers in {summary_path.name}): cut short, or from another run")
    return layers, summary, sweep
