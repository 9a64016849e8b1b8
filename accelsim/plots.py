"""Figures from the result tables of a run: what a reader needs without the code.

Each function takes the ``summary`` or ``layers`` table (columns in :mod:`accelsim.report`) and
returns a matplotlib Figure; :func:`write_figures` writes them all. Axes carry units; schedulers
keep the same colours in every figure. :func:`read_results` reads and checks the tables of an
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
from accelsim.energy.account import ENERGY_COMPONENTS
from accelsim.errors import AccelsimError
from accelsim.report import LOST_COLUMNS


class ResultsError(AccelsimError, ValueError):
    """A results table cannot be plotted; the message names the file and the column."""


ATTRIBUTION = (("cycles_ideal", "ideal (needed MACs / PEs)"), ("lost_fill_drain", "fill and drain"),
               ("lost_partial_tiles", "partial tiles"), ("lost_group_boundary", "group boundary"),
               ("lost_granularity", "off outputs no fold can leave out (trace's limit)"),
               ("lost_gated_idle", "other off outputs in running folds"), ("lost_stall", "DRAM stalls"))
assert {column for column, _ in ATTRIBUTION[1:]} == set(LOST_COLUMNS)


def _colours(names: Sequence[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10")
    return {name: palette(index % 10) for index, name in enumerate(names)}


def _title(summary: pd.DataFrame) -> str:
    row = summary.iloc[0]
    return (f"{row['network']}, {row['array_rows']}x{row['array_cols']} {str(row['dataflow']).upper()}, "
            f"{row['images']} image(s)")


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


def _stacked_bars(summary: pd.DataFrame, parts: Sequence[tuple[str, str]], scale: float, palette: str,
                  ylabel: str, title: str) -> Figure:
    """One stacked bar per scheduler: ``parts`` are (column, label), each divided by the
    number of images and by ``scale``."""
    figure, axis = plt.subplots(figsize=(10, 4))
    names = list(summary["scheduler"])
    per_image = summary["images"].to_numpy(dtype=float)
    bottom = np.zeros(len(names))
    colours = plt.get_cmap(palette)
    for index, (column, label) in enumerate(parts):
        values = summary[column].to_numpy(dtype=float) / per_image / scale
        axis.bar(names, values, bottom=bottom, label=label, color=colours(index))
        bottom += values
    axis.set_ylabel(ylabel)
    axis.set_title(f"{title} — {_title(summary)}")
    axis.tick_params(axis="x", rotation=20)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure


def attribution_figure(summary: pd.DataFrame) -> Figure:
    """Where each scheduler's cycles go: ideal work and every kind of loss, stacked."""
    return _stacked_bars(summary, ATTRIBUTION, 1e3, "Set2", "thousand cycles per image",
                         "Why speedup falls short of the FLOP reduction")


def energy_figure(summary: pd.DataFrame) -> Figure:
    """Energy per image by component, per scheduler."""
    parts = [(f"energy_{component}_pj", component.replace("_", " ")) for component in ENERGY_COMPONENTS]
    return _stacked_bars(summary, parts, 1e6, "tab20", "energy per image, µJ", "Energy breakdown")


def layers_figure(layers: pd.DataFrame) -> Figure:
    """Per layer (mean over images): speedup per scheduler, and PE utilisation."""
    names = list(dict.fromkeys(layers["scheduler"]))
    order = list(dict.fromkeys(layers["layer"]))
    means = layers.groupby(["layer", "scheduler"])[["speedup_vs_dense", "pe_utilization"]].mean()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(order) * 0.45), 6), sharex=True)
    width = 0.8 / len(names)
    x = np.arange(len(order))
    colours = _colours(names)
    for index, name in enumerate(names):
        chosen = means.xs(name, level="scheduler").reindex(order)
        top.bar(x + index * width, chosen["speedup_vs_dense"], width, label=name, color=colours[name])
        bottom.bar(x + index * width, chosen["pe_utilization"] * 100, width, color=colours[name])
    top.axhline(1.0, color="grey", linewidth=0.8)
    top.set_ylabel("speedup vs dense, ×")
    top.legend(fontsize=7, ncol=3)
    bottom.set_ylabel("PE utilisation, %")
    bottom.set_xticks(x + 0.4 - width / 2, order, rotation=75, fontsize=7)
    top.set_title("Per layer, mean over images")
    figure.tight_layout()
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
    axis.boxplot([per_image.xs(name).to_numpy() for name in names], tick_labels=names)
    axis.set_ylabel("latency per image, ms" + (f" at {clock_mhz:g} MHz" if clock_mhz else ""))
    axis.set_title("Latency over images")
    axis.tick_params(axis="x", rotation=20)
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


#: swept parameters besides the array, and how a figure labels them
SETTINGS = (("dataflow", "{}"), ("ifmap_sram_kib", "I{:g}"), ("filter_sram_kib", "F{:g}"),
            ("ofmap_sram_kib", "O{:g}KiB"), ("dram_bandwidth_bytes_per_cycle", "{:g}B/cyc"))


def _array_order(summary: pd.DataFrame) -> list[str]:
    arrays = summary[["array_rows", "array_cols"]].drop_duplicates()
    arrays = arrays.assign(pes=arrays["array_rows"] * arrays["array_cols"]).sort_values(["pes", "array_rows"])
    return [f"{r}x{c}" for r, c in zip(arrays["array_rows"], arrays["array_cols"])]


def _with_labels(summary: pd.DataFrame) -> pd.DataFrame:
    """``array`` (``"RxC"``) and ``setting``: the other swept parameters that vary, as text."""
    table = summary.assign(array=summary["array_rows"].astype(str) + "x" + summary["array_cols"].astype(str))
    named = dict(SETTINGS)
    others = [(column, f"{column}={{}}") for column in FIELD_NAMES
              if column not in named and column not in ("array_rows", "array_cols")]
    varying = [(column, pattern) for column, pattern in [*SETTINGS, *others]
               if column in table.columns and table[column].nunique() > 1]
    table["setting"] = [" ".join(pattern.format(row[column]) for column, pattern in varying) or "all"
                        for _, row in table.iterrows()]
    return table


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
        axis.set_xlabel("array size (rows x columns of PEs)")
        axis.set_title(f"{str(dataflow).upper()} dataflow")
    axes[0][0].set_ylabel("speedup vs dense on the same hardware, ×")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"{summary['network'].iloc[0]}: speedup vs array size "
                    f"(line: mean over the other swept parameters, band: their range)", fontsize=10)
    figure.tight_layout()
    return figure


def heatmap_figure(summary: pd.DataFrame, value: str = "speedup_vs_dense") -> Figure:
    """Per non-dense scheduler, ``value`` over array size × the other swept parameters."""
    table = _with_labels(summary)
    arrays = _array_order(table)
    names = [name for name in dict.fromkeys(table["scheduler"]) if name != "dense"] or ["dense"]
    settings = list(dict.fromkeys(table["setting"]))
    scale, unit = (100.0, "%") if value == "pe_utilization" else (1.0, "×")
    figure, axes = plt.subplots(1, len(names), figsize=(1.2 + 0.9 * len(arrays) * len(names) + 1.6,
                                                         1.5 + 0.4 * len(settings)), squeeze=False)
    grids = {name: table[table["scheduler"] == name].pivot_table(index="setting", columns="array", values=value,
                                                                 aggfunc="mean").reindex(index=settings, columns=arrays) * scale
             for name in names}
    values = np.concatenate([g.to_numpy(dtype=float).ravel() for g in grids.values()])
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for axis, name in zip(axes[0], names):
        data = grids[name].to_numpy(dtype=float)
        image = axis.imshow(data, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        for (row, column), number in np.ndenumerate(data):
            if np.isfinite(number):
                axis.text(column, row, f"{number:.2f}" if unit == "×" else f"{number:.0f}", ha="center",
                          va="center", fontsize=7, color="white" if number < (low + high) / 2 else "black")
        axis.set_xticks(range(len(arrays)), arrays, rotation=45)
        axis.set_yticks(range(len(settings)), settings if axis is axes[0][0] else [""] * len(settings))
        axis.set_xlabel("array size")
        axis.set_title(name)
    label = {"speedup_vs_dense": "speedup vs dense, ×", "pe_utilization": "PE utilisation, %"}.get(value, value)
    figure.colorbar(image, ax=list(axes[0]), label=label)
    figure.suptitle(f"{summary['network'].iloc[0]}: {label} over array × buffers/bandwidth", fontsize=10)
    return figure


def write_sweep_figures(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path,
                        formats: Sequence[str] = ("png", "svg"), clock_mhz: float | None = None) -> list[Path]:
    """The sweep figures (speedup vs array, heatmaps of speedup and utilisation) and, for the
    sweep's first point, every figure of :func:`write_figures` under ``first-point/``."""
    figures = {"speedup_vs_array": sweep_speedup_figure(summary),
               "heatmap_speedup": heatmap_figure(summary, "speedup_vs_dense"),
               "heatmap_utilization": heatmap_figure(summary, "pe_utilization")}
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
           "layers": ("image", "cycles_total", "latency_us")}
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
