"""The figures of one run (``accelsim run --out``): speedup, attribution, energy, per-layer
cycles, latency over images, timeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.energy.account import COMPONENTS, ENERGY_COMPONENTS
from accelsim.plots.common import ATTRIBUTION, _colours, _hardware, _save, _short, _title


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
             "lost_imbalance": "#7570b3", "lost_sram": "#e7298a", "lost_stall": set2(6)}
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


def layers_figure(layers: pd.DataFrame, page: str | None = None) -> Figure:
    """Per layer, mean over images: cycles per scheduler (computing and stalled), where the
    fastest gated scheduler's cycles go beside dense's total, speedup and PE utilisation.
    ``page`` names the part of the network drawn (a long network takes several figures)."""
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
    why = " (the fastest gated scheduler over the whole run)" if focus != "dense" else ""
    where.set_title(f"Where the cycles of {focus}{why} go, per layer", fontsize=9)

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
    figure.suptitle(f"{layers['network'].iloc[0]} on {_hardware(layers)}: per layer, mean over {over}"
                    + (f" ({page})" if page else ""))
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
    few = max(sample.size for sample in samples) < 5
    if few:  # a box of two to four values says less than the values: draw them
        for index, sample in enumerate(samples, start=1):
            spread = np.linspace(-0.12, 0.12, sample.size) if sample.size > 1 else np.zeros(1)
            axis.scatter(index + spread, sample, s=18, color="black", zorder=3)
        axis.set_xticks(range(1, len(names) + 1), names)
        axis.set_xlim(0.5, len(names) + 0.5)
    else:
        axis.boxplot(samples, tick_labels=names)
    top = max((float(np.nanmax(sample)) for sample in samples if sample.size), default=1.0)
    for index, sample in enumerate(samples, start=1):
        if sample.size:
            axis.annotate(f"{np.median(sample):.3g}", (index, float(np.nanmax(sample))), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom", fontsize=8)
    axis.set_ylim(0, (top if top > 0 else 1.0) * 1.15)  # from zero: the gap between boxes reads as a ratio
    axis.set_ylabel(f"latency per {_run_unit(layers)}, ms" + (f" at {clock_mhz:g} MHz" if clock_mhz else ""))
    what = "each point an image" if few else "boxes over images"
    axis.set_title(f"Latency ({what}; labels: median) — {layers['network'].iloc[0]} on {_hardware(layers)}",
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


#: at most this many layers in one per-layer figure; more are drawn on further pages
LAYERS_PER_PAGE = 30


def write_figures(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path,
                  formats: Sequence[str] = ("png", "svg"), clock_mhz: float | None = None,
                  label: str | None = None) -> list[Path]:
    """Write every figure in each format into ``out_dir``; returns the paths. Latency is at
    ``clock_mhz`` if given, else at the clock the results were run at. A figure with nothing to
    compare is left out (speedup when only dense ran, latency with one image); the per-layer
    figure is cut into pages of :data:`LAYERS_PER_PAGE` layers (``layers``, ``layers-2``, …).
    ``label`` (e.g. a sweep point's settings) is written above every figure."""
    schedulers = layers["scheduler"].nunique()
    figures = {"speedup": speedup_figure(summary) if schedulers > 1 else None,
               "attribution": attribution_figure(summary), "energy": energy_figure(summary)}
    order = list(dict.fromkeys(layers["layer"]))
    for page, start in enumerate(range(0, len(order), LAYERS_PER_PAGE), start=1):
        names = order[start:start + LAYERS_PER_PAGE]
        part = layers if len(order) <= LAYERS_PER_PAGE else layers[layers["layer"].isin(names)]
        figures["layers" if page == 1 else f"layers-{page}"] = layers_figure(
            part, None if len(order) <= LAYERS_PER_PAGE else f"layers {start + 1}–{start + len(names)} of {len(order)}")
    several_images = layers.groupby("scheduler")["image"].nunique().max() > 1
    figures["latency"] = latency_figure(layers, clock_mhz) if several_images else None
    figures["timeline"] = timeline_figure(layers, summary)
    figures = {name: figure for name, figure in figures.items() if figure is not None}
    if label:
        for figure in figures.values():
            figure.text(0.5, 1.0, label, ha="center", va="bottom", fontsize=9, transform=figure.transFigure)
    return _save(figures, Path(out_dir), formats)
