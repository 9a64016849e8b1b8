"""Results as pandas tables, their text rendering and their files.

``layers`` table — one row per (layer, image, scheduler); ``summary`` — one row per scheduler. Their
columns, units and meanings are :mod:`accelsim.columns` (and ``docs/results.md``, made from it).

The lost_* columns are PE-cycles divided by R·C, so that
``cycles_ideal + Σ lost_* = cycles_total`` exactly: they say where the gap between the
theoretical and the realised speedup goes.

In ``summary.csv`` of ``accelsim run --out`` every config field follows as a column
(:func:`add_config_columns`, as in a sweep's tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim import columns
from accelsim.arch.dataflow import get_dataflow
from accelsim.config import FIELD_NAMES, HardwareConfig
from accelsim.energy.account import COMPONENTS, ENERGY_COLUMNS
from accelsim.engine import TRAFFIC_FIELDS, LayerTiming
from accelsim.schedule.plan import PHASE_BASE, PHASE_CONDITIONAL, PHASE_DENSE, LayerPlan

LOST_COLUMNS = ("lost_fill_drain", "lost_partial_tiles", "lost_group_boundary", "lost_granularity",
                "lost_gated_idle", "lost_imbalance", "lost_sram", "lost_stall")
LAYER_COLUMNS = tuple(column.name for column in columns.LAYERS)
SUMMARY_COLUMNS = tuple(column.name for column in columns.SUMMARY)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN for a layer of 0 cycles (possible under ``scalesim``)."""
    return numerator / denominator if denominator else float("nan")


def _fold_shape(plan: LayerPlan, config: HardwareConfig) -> tuple[int, int]:
    """Rows and columns of PEs one fold of the plan occupies: a slice's on a sliced plan, else
    the whole array's."""
    if plan.sliced is not None:
        return config.rows_per_slice, config.slice_cols
    return config.array_rows, config.array_cols


def _sliced_lost_cycles(plan: LayerPlan, timing: LayerTiming, config: HardwareConfig) -> dict[str, float]:
    """:func:`lost_cycles` of a plan on independent slices: each fold holds one slice's
    R·C/P PEs (``rows_per_slice`` × ``slice_cols``); the PE-cycles of slices waiting for the slowest, or
    for what a task waits for, are imbalance."""
    pes, work, runs = config.array_rows * config.array_cols, plan.sliced, plan.runs
    slice_pes = math.prod(_fold_shape(plan, config))
    count, used_rows, used_cols, steps = (runs[name].astype(np.float64) for name in
                                          ("count", "rows_used", "cols_used", "time_steps"))
    streamed = float((count * steps).sum()) * slice_pes
    mapped = float((count * used_rows * used_cols * steps).sum())
    unavoidable = min(plan.granular_macs if plan.granular_macs is not None else plan.needed_macs, mapped)
    busy = work.busy * slice_pes / pes
    return {
        "lost_fill_drain": (work.busy * slice_pes - streamed) / pes + plan.offset_cycles,
        "lost_partial_tiles": (streamed - mapped) / pes,
        "lost_group_boundary": 0.0,
        "lost_granularity": (unavoidable - plan.needed_macs) / pes,
        "lost_gated_idle": (mapped - unavoidable) / pes,
        "lost_imbalance": plan.cycles - plan.offset_cycles - busy,
        "lost_sram": float(timing.cycles_sram),
        "lost_stall": float(timing.cycles_stall - timing.cycles_sram),
    }


def lost_cycles(plan: LayerPlan, timing: LayerTiming, config: HardwareConfig) -> dict[str, float]:
    """Where a layer's cycles go beyond the ideal, in cycles (PE-cycles / (R·C))."""
    if plan.sliced is not None:
        return _sliced_lost_cycles(plan, timing, config)
    rows, cols = config.array_rows, config.array_cols
    pes = rows * cols
    runs = plan.runs
    count, used_rows, used_cols, steps = (runs[name].astype(np.float64) for name in
                                          ("count", "rows_used", "cols_used", "time_steps"))
    flow = get_dataflow(config.dataflow)
    gated = np.isin(runs["phase"], (PHASE_BASE, PHASE_CONDITIONAL))  # one pass tiles N as dense does
    # where channels lie along the array, a gated fold leaves the side's slots beyond its
    # group empty; the share of those empty slots that dense tiling of N would not leave is
    # the group boundary's, the rest are ordinary edge tiles
    sides = {flow.rows_dim: (rows, used_cols, used_rows), flow.cols_dim: (cols, used_rows, used_cols)}
    group_boundary = 0.0
    if "N" in sides and plan.gate_groups:
        side, across, along = sides["N"]
        n, groups = plan.layer.N, plan.gate_groups
        grouped_waste = groups * -(-(n // groups) // side) * side - n
        dense_waste = -(-n // side) * side - n
        share = 1 - dense_waste / grouped_waste if grouped_waste else 0.0
        empty = count * across * steps * (side - along)
        group_boundary = share * float(empty[gated].sum()) / pes
    unmapped = float((count * (pes - used_rows * used_cols) * steps).sum()) / pes
    mapped = float((count * used_rows * used_cols * steps).sum())
    # off outputs in folds that run: the part no fold-based schedule at this channel-set width
    # avoids (the trace's limit), and the rest, the scheduler's (a reordering may beat the limit
    # of the natural order: then all of it is the trace's)
    unavoidable = min(plan.granular_macs if plan.granular_macs is not None else plan.needed_macs, mapped)
    return {
        "lost_fill_drain": float((count * (runs["cycles"] - steps)).sum()) + plan.offset_cycles,
        "lost_partial_tiles": unmapped - group_boundary,
        "lost_group_boundary": group_boundary,
        "lost_granularity": (unavoidable - plan.needed_macs) / pes,
        "lost_gated_idle": (mapped - unavoidable) / pes,
        "lost_imbalance": 0.0,
        "lost_sram": float(timing.cycles_sram),
        "lost_stall": float(timing.cycles_stall - timing.cycles_sram),
    }


def array_counters(plan: LayerPlan, config: HardwareConfig) -> dict[str, int]:
    """Counts the energy account needs from the plan: bits moved PE to PE, and gate compares.

    Every real token crosses the whole array: a token entering at the left edge makes C hops,
    one entering at the top R hops; an OS fold drains each result R hops; a WS/IS fold shifts
    its stationary tile in (R hops a token). A WS/IS partial sum passing down is the PE's
    accumulator update, charged per MAC by the account, so it is not counted again here.
    """
    flow = get_dataflow(config.dataflow)
    rows, cols = _fold_shape(plan, config)
    runs = plan.runs
    count, used_rows, used_cols, steps = (runs[name] for name in ("count", "rows_used", "cols_used", "time_steps"))
    operand, accumulator = config.operand_bits, config.accumulator_bits
    left = used_rows * steps * cols * operand
    if flow.drains_accumulators:
        rest = used_cols * steps * rows * operand + used_rows * used_cols * rows * accumulator
    else:
        rest = used_rows * used_cols * rows * operand
    gated = bool((runs["phase"] != PHASE_DENSE).any())
    return {"pe_hop_bits": int((count * (left + rest)).sum()),
            "gate_compares": plan.layer.M * plan.layer.N if gated else 0}


def layer_rows(network: str, image: int, plans: Sequence[LayerPlan], timeline: Sequence[LayerTiming],
               config: HardwareConfig) -> list[dict]:
    """Rows of the ``layers`` table for one image and one scheduler (speedups filled later)."""
    pes = config.array_rows * config.array_cols
    rows = []
    for plan, timing in zip(plans, timeline, strict=True):
        layer = plan.layer
        rows.append({
            "network": network, "layer": layer.name, "image": image, "batch": layer.batch,
            "scheduler": plan.scheduler,
            "dataflow": config.dataflow, "timing": config.timing,
            "array_rows": config.array_rows, "array_cols": config.array_cols,
            "M": layer.M, "N": layer.N, "K": layer.K, "groups": layer.groups,
            "gate_on_rate": plan.gate_on_rate, "folds": plan.folds, "macs_dense": layer.macs,
            "macs_needed": plan.needed_macs, "macs_executed": plan.macs_executed, "path": plan.path,
            "macs_granular": plan.needed_macs if plan.granular_macs is None else plan.granular_macs,
            "start_cycle": timing.start_cycle, "cycles_compute": timing.cycles_compute,
            "cycles_stall": timing.cycles_stall, "cycles_sram": timing.cycles_sram,
            "cycles_total": timing.cycles_total, "cycles_ideal": plan.needed_macs / pes,
            **lost_cycles(plan, timing, config),
            "pe_utilization": _ratio(plan.macs_executed, timing.cycles_total * pes),
            "mapping_efficiency": (plan.mapped_pe_folds / (plan.folds * math.prod(_fold_shape(plan, config))) if plan.folds
                                   else float("nan")),
            "flop_reduction": _ratio(layer.macs, plan.needed_macs),
            "granularity_bound": _ratio(layer.macs, plan.needed_macs if plan.granular_macs is None
                                        else plan.granular_macs),
            "latency_us": timing.cycles_total / config.clock_mhz,
            **{name: timing.traffic.get(name, 0) for name in TRAFFIC_FIELDS},
            # on a sliced array every input read from the ifmap SRAM's banks crosses the crossbar
            "crossbar_bytes": timing.traffic.get("ifmap_sram_read_bytes", 0) if config.array_slices > 1 else 0,
            # and every weight into a slice, every partial sum and output between a slice and the ofmap SRAM
            "network_bytes": sum(timing.traffic.get(name, 0) for name in (
                "filter_sram_read_bytes", "ofmap_sram_read_bytes", "ofmap_sram_write_bytes")) if config.array_slices > 1 else 0,
            "tasks": sum(map(len, plan.sliced.phases)) if plan.sliced is not None else 0,
            **array_counters(plan, config),
        })
    return rows


def layer_table(rows: list[dict]) -> pd.DataFrame:
    """The ``layers`` table, with speedups against the ``dense`` rows of the same layer and image."""
    layers = pd.DataFrame(rows, columns=[c for c in LAYER_COLUMNS if c not in
                                         ("speedup_vs_dense", "realized_fraction", *ENERGY_COLUMNS)])
    dense = layers.loc[layers["scheduler"] == "dense"].set_index(["layer", "image"])["cycles_total"]
    if dense.empty:
        raise ValueError("speedup_vs_dense needs the dense scheduler's rows")
    baseline = pd.MultiIndex.from_frame(layers[["layer", "image"]]).map(dense)
    layers["speedup_vs_dense"] = np.asarray(baseline, dtype=float) / layers["cycles_total"].replace(0, np.nan)
    layers["realized_fraction"] = layers["speedup_vs_dense"] / layers["flop_reduction"]
    layers["held_back_by"] = held_back_by(layers)
    return layers[[c for c in LAYER_COLUMNS if c not in ENERGY_COLUMNS]]


#: a layer is held back by what takes more than this share: its cycles stalled, or PEs idle in its folds
HELD_BACK = 0.5


def held_back_by(layers: pd.DataFrame) -> pd.Series:
    """Per row, what holds the layer back (the ``held_back_by`` column): ``dram``, ``sram``,
    ``mapping`` or ``none``."""
    stalled = layers["lost_stall"] > HELD_BACK * layers["cycles_total"]
    ported = layers["lost_sram"] > HELD_BACK * layers["cycles_total"]
    mapped = layers["mapping_efficiency"].fillna(1.0) < HELD_BACK
    return pd.Series(np.select([stalled, ported, mapped], ["dram", "sram", "mapping"], "none"), index=layers.index)


def format_held_back(layers: pd.DataFrame) -> str | None:
    """One line on the dense baseline's layers that are held back, with their share of its
    cycles and what would help; None when no layer is."""
    dense = layers[layers["scheduler"] == "dense"]
    total = dense["cycles_total"].sum()
    parts = []
    what_they_do = {"dram": "wait for DRAM more than half their cycles",
                    "sram": "stream slower than their folds for more than half their cycles (SRAM ports)",
                    "mapping": "use less than half the PEs of their folds"}
    for cause, remedy in (("dram", "more DRAM bandwidth or larger SRAMs"),
                          ("sram", "more SRAM banks or wider ports"),
                          ("mapping", "an array shape that fits them, or another dataflow")):
        rows = dense[dense["held_back_by"] == cause]
        if rows.empty:
            continue
        names = list(dict.fromkeys(rows["layer"]))
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        what = what_they_do[cause]
        share = rows["cycles_total"].sum() / total
        parts.append(f"{len(names)} layer(s) {what} ({shown}: {f'{share:.0%}' if share >= 0.01 else 'under 1 %'} "
                     f"of dense's cycles; {remedy})")
    return ("held back (layers.csv, held_back_by): " + "; ".join(parts)) if parts and total else None


def summary_table(layers: pd.DataFrame, config: HardwareConfig) -> pd.DataFrame:
    """The ``summary`` table: one row per scheduler in ``layers``."""
    pes = config.array_rows * config.array_cols
    dense_cycles = layers.loc[layers["scheduler"] == "dense", "cycles_total"].sum()
    rows = []
    for scheduler, group in layers.groupby("scheduler", sort=False):
        per_run = group.groupby("image")["cycles_total"].sum() / config.clock_mhz / 1e3  # ms per batch
        sums = {column: group[column].sum() for column in
                ("folds", "macs_dense", "macs_needed", "macs_granular", "macs_executed", "cycles_compute",
                 "cycles_stall", "cycles_sram", "cycles_total", "cycles_ideal", *LOST_COLUMNS, *TRAFFIC_FIELDS,
                 "crossbar_bytes", "network_bytes", "tasks", *ENERGY_COLUMNS)}
        mapped = (group["mapping_efficiency"].fillna(0) * group["folds"]).sum()
        batch = int(group["batch"].iloc[0])
        rows.append({
            "network": group["network"].iloc[0], "scheduler": scheduler,
            "dataflow": config.dataflow, "timing": config.timing,
            "array_rows": config.array_rows, "array_cols": config.array_cols,
            "images": group["image"].nunique() * batch, "batch": batch, "layers": group["layer"].nunique(),
            **sums,
            "pe_utilization": _ratio(sums["macs_executed"], sums["cycles_total"] * pes),
            "mapping_efficiency": _ratio(mapped, sums["folds"]),
            "flop_reduction": _ratio(sums["macs_dense"], sums["macs_needed"]),
            "granularity_bound": _ratio(sums["macs_dense"], sums["macs_granular"]),
            "speedup_vs_dense": _ratio(dense_cycles, sums["cycles_total"]),
            "realized_fraction": float("nan"),
            "latency_ms": per_run.mean(), "latency_p50_ms": per_run.quantile(0.5),
            "latency_p95_ms": per_run.quantile(0.95), "images_per_second": _ratio(batch * 1e3, per_run.mean()),
            "input_bytes_per_cycle": _ratio(sums["ifmap_sram_read_bytes"], sums["cycles_total"]),
        })
    summary = pd.DataFrame(rows, columns=[c for c in SUMMARY_COLUMNS if c in rows[0]])
    summary["realized_fraction"] = summary["speedup_vs_dense"] / summary["flop_reduction"]
    return summary


def format_layers(layers: pd.DataFrame) -> str:
    """A readable per-layer table with a total row."""
    shown = layers[["layer", "scheduler", "M", "N", "K", "folds", "macs_executed", "cycles_stall",
                    "cycles_total", "pe_utilization", "mapping_efficiency", "speedup_vs_dense"]].copy()
    total = {"layer": "TOTAL", "scheduler": "", "M": "", "N": "", "K": "",
             "folds": shown["folds"].sum(), "macs_executed": shown["macs_executed"].sum(),
             "cycles_stall": shown["cycles_stall"].sum(), "cycles_total": shown["cycles_total"].sum()}
    pes = int(layers["array_rows"].iloc[0]) * int(layers["array_cols"].iloc[0])
    total["pe_utilization"] = _ratio(total["macs_executed"], total["cycles_total"] * pes)
    total["mapping_efficiency"] = float("nan")
    total["speedup_vs_dense"] = float("nan")
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    formatters = {
        "macs_executed": "{:,}".format, "cycles_total": "{:,}".format, "folds": "{:,}".format,
        "cycles_stall": "{:,}".format,
        "pe_utilization": lambda v: f"{v:.1%}",
        "mapping_efficiency": lambda v: f"{v:.1%}",
        "speedup_vs_dense": lambda v: f"{v:.2f}x",
    }
    renamed = {"macs_executed": "macs", "cycles_stall": "stall", "cycles_total": "cycles", "pe_utilization": "util",
               "mapping_efficiency": "mapping", "speedup_vs_dense": "speedup"}
    return shown.rename(columns=renamed).to_string(
        index=False, na_rep="", formatters={renamed.get(k, k): f for k, f in formatters.items()})


def format_summary(summary: pd.DataFrame) -> str:
    """Per scheduler: latency, speedup against the FLOP reduction, and where the cycles went."""
    shown = pd.DataFrame({
        "scheduler": summary["scheduler"],
        "latency_ms": summary["latency_ms"].map(lambda v: f"{v:.4g}"),
        "p95_ms": summary["latency_p95_ms"].map(lambda v: f"{v:.4g}"),
        "speedup": summary["speedup_vs_dense"].map(lambda v: f"{v:.2f}x"),
        "flop_red": summary["flop_reduction"].map(lambda v: f"{v:.2f}x"),
        "bound": summary["granularity_bound"].map(lambda v: f"{v:.2f}x"),
        "realized": summary["realized_fraction"].map(lambda v: f"{v:.0%}"),
    })
    for column, label in zip(("cycles_ideal", *LOST_COLUMNS),
                             ("ideal", "fill/drain", "partial", "group", "granularity", "sched idle",
                              "imbalance", "sram", "stall")):
        shown[label] = (summary[column] / summary["cycles_total"]).map(lambda v: f"{v:.1%}")
    return shown.to_string(index=False)


def format_energy(summary: pd.DataFrame) -> str:
    """Per scheduler: energy per image, saving against dense, and where it goes."""
    shown = pd.DataFrame({
        "scheduler": summary["scheduler"],
        "energy_uJ": summary["energy_per_image_uj"].map(lambda v: f"{v:.4g}"),
        "saving": summary["energy_saving_vs_dense"].map(lambda v: f"{v:.1%}"),
    })
    total = summary["energy_total_pj"]
    for component in (component for component in COMPONENTS if component.in_breakdown):
        shown[component.name] = (summary[component.column] / total).map(lambda v: f"{v:.0%}")
    return shown.to_string(index=False)


def add_config_columns(table: pd.DataFrame, config: HardwareConfig,
                       columns: Sequence[str] = FIELD_NAMES) -> pd.DataFrame:
    """``table`` with each config field of ``columns`` it lacks appended as a column of one
    value (the energy overrides as the text of a dict), in place; returns it."""
    for column in (column for column in columns if column not in table.columns):
        value = getattr(config, column)
        table.insert(len(table.columns), column, value if not isinstance(value, tuple) else repr(dict(value)))
    return table


def table_files(out_dir: str | Path, tables: Mapping[str, pd.DataFrame], parquet: bool = False
                ) -> dict[Path, bytes | None]:
    """Path → contents of the files of result ``tables`` (by file stem) in ``out_dir``: each
    as CSV and, with ``parquet``, as Parquet too (needs pyarrow). A Parquet file of the same
    name that this write does not make maps to None: an earlier run's, to be removed, so that
    no stale table sits beside a new one (:func:`accelsim.atomic.write_files_atomically`)."""
    out = Path(out_dir)
    files: dict[Path, bytes | None] = {}
    for stem, table in tables.items():
        files[out / f"{stem}.csv"] = table.to_csv(index=False).encode()
        files[out / f"{stem}.parquet"] = table.to_parquet(None, index=False) if parquet else None
    return files


def write_tables(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``layers.csv`` and ``summary.csv`` into ``out_dir`` (created if needed), each
    whole or not at all (:mod:`accelsim.atomic`); a ``layers.parquet`` or ``summary.parquet``
    of an earlier run is removed."""
    from accelsim.atomic import write_files_atomically

    return write_files_atomically(table_files(out_dir, {"layers": layers, "summary": summary}))
