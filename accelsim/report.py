"""Results as pandas tables, their text rendering and their files.

``layers`` table — one row per (layer, scheduler):

=====================  ======  ==================================================================
column                 unit    meaning
=====================  ======  ==================================================================
network                —       network name
layer                  —       layer name
scheduler              —       conditional-path scheduler (``dense``: no gating)
dataflow               —       ``os``, ``ws`` or ``is``
timing                 —       cycle-counting convention (``physical`` or ``scalesim``)
array_rows             PEs     R
array_cols             PEs     C
M, N, K                —       GEMM dimensions (output pixels, filters, reduction per output)
groups                 —       channel groups (a grouped conv runs one GEMM per group)
folds                  folds   folds executed
macs_dense             MACs    M·N·K: the layer's work without gating
macs_executed          MACs    MACs done on real operands (not clock-gated, not padding)
cycles_compute         cycles  cycles the array spent on the layer's folds
cycles_stall           cycles  cycles the array waited for memory
cycles_total           cycles  cycles_compute + cycles_stall
pe_utilization         —       macs_executed / (cycles_total · R · C)
mapping_efficiency     —       Σ folds of PEs holding real work / (folds · R · C)
speedup_vs_dense       ×       dense cycles_total / this scheduler's cycles_total
latency_us             µs      cycles_total / clock
=====================  ======  ==================================================================

``summary`` table — one row per scheduler, the same quantities over the whole network
(``layers`` counts them; utilisation and mapping efficiency are over all folds and cycles;
``latency_ms`` replaces ``latency_us``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from accelsim.config import HardwareConfig
from accelsim.engine import LayerTiming
from accelsim.schedule.plan import LayerPlan

LAYER_COLUMNS = (
    "network", "layer", "scheduler", "dataflow", "timing", "array_rows", "array_cols", "M", "N",
    "K", "groups", "folds", "macs_dense", "macs_executed", "cycles_compute", "cycles_stall",
    "cycles_total", "pe_utilization", "mapping_efficiency", "speedup_vs_dense", "latency_us",
)
SUMMARY_COLUMNS = (
    "network", "scheduler", "dataflow", "timing", "array_rows", "array_cols", "layers", "folds",
    "macs_dense", "macs_executed", "cycles_compute", "cycles_stall", "cycles_total",
    "pe_utilization", "mapping_efficiency", "speedup_vs_dense", "latency_ms",
)


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN for a layer of 0 cycles (possible under ``scalesim``)."""
    return numerator / denominator if denominator else float("nan")


def layer_table(network: str, plans: Sequence[LayerPlan], timeline: Sequence[LayerTiming],
                config: HardwareConfig) -> pd.DataFrame:
    """The ``layers`` table of one scheduler's run (``speedup_vs_dense`` filled by
    :func:`add_speedup`)."""
    pes = config.array_rows * config.array_cols
    rows = []
    for plan, timing in zip(plans, timeline, strict=True):
        layer = plan.layer
        rows.append({
            "network": network, "layer": layer.name, "scheduler": plan.scheduler,
            "dataflow": config.dataflow, "timing": config.timing,
            "array_rows": config.array_rows, "array_cols": config.array_cols,
            "M": layer.M, "N": layer.N, "K": layer.K, "groups": layer.groups,
            "folds": plan.folds, "macs_dense": layer.macs, "macs_executed": plan.macs,
            "cycles_compute": timing.cycles_compute, "cycles_stall": timing.cycles_stall,
            "cycles_total": timing.cycles_total,
            "pe_utilization": _ratio(plan.macs, timing.cycles_total * pes),
            "mapping_efficiency": plan.mapped_pe_folds / (plan.folds * pes),
            "speedup_vs_dense": float("nan"),
            "latency_us": timing.cycles_total / config.clock_mhz,
        })
    return pd.DataFrame(rows, columns=list(LAYER_COLUMNS))


def add_speedup(layers: pd.DataFrame) -> pd.DataFrame:
    """Fill ``speedup_vs_dense`` from the ``dense`` rows of the same layers."""
    dense = layers.loc[layers["scheduler"] == "dense"].set_index("layer")["cycles_total"]
    if dense.empty:
        raise ValueError("speedup_vs_dense needs the dense scheduler's rows")
    layers = layers.copy()
    layers["speedup_vs_dense"] = layers["layer"].map(dense) / layers["cycles_total"].replace(0, float("nan"))
    return layers


def summary_table(layers: pd.DataFrame, config: HardwareConfig, mapped_pe_folds: dict[str, int]
                  ) -> pd.DataFrame:
    """The ``summary`` table: one row per scheduler in ``layers``.

    ``mapped_pe_folds`` gives, per scheduler, Σ over folds of the PEs holding real work.
    """
    pes = config.array_rows * config.array_cols
    rows = []
    for scheduler, group in layers.groupby("scheduler", sort=False):
        cycles = int(group["cycles_total"].sum())
        folds = int(group["folds"].sum())
        rows.append({
            "network": group["network"].iloc[0], "scheduler": scheduler,
            "dataflow": config.dataflow, "timing": config.timing,
            "array_rows": config.array_rows, "array_cols": config.array_cols,
            "layers": len(group), "folds": folds,
            "macs_dense": int(group["macs_dense"].sum()),
            "macs_executed": int(group["macs_executed"].sum()),
            "cycles_compute": int(group["cycles_compute"].sum()),
            "cycles_stall": int(group["cycles_stall"].sum()),
            "cycles_total": cycles,
            "pe_utilization": _ratio(group["macs_executed"].sum(), cycles * pes),
            "mapping_efficiency": mapped_pe_folds[scheduler] / (folds * pes),
            "speedup_vs_dense": float("nan"),
            "latency_ms": cycles / config.clock_mhz / 1e3,
        })
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    dense_cycles = summary.loc[summary["scheduler"] == "dense", "cycles_total"]
    if not dense_cycles.empty:
        summary["speedup_vs_dense"] = int(dense_cycles.iloc[0]) / summary["cycles_total"].replace(0, float("nan"))
    return summary


def format_layers(layers: pd.DataFrame) -> str:
    """A readable per-layer table with a total row."""
    shown = layers[["layer", "scheduler", "M", "N", "K", "folds", "macs_executed",
                    "cycles_total", "pe_utilization", "mapping_efficiency", "speedup_vs_dense"]].copy()
    total = {"layer": "TOTAL", "scheduler": "", "M": "", "N": "", "K": "",
             "folds": shown["folds"].sum(), "macs_executed": shown["macs_executed"].sum(),
             "cycles_total": shown["cycles_total"].sum()}
    pes = int(layers["array_rows"].iloc[0]) * int(layers["array_cols"].iloc[0])
    total["pe_utilization"] = _ratio(total["macs_executed"], total["cycles_total"] * pes)
    total["mapping_efficiency"] = float("nan")
    total["speedup_vs_dense"] = float("nan")
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    formatters = {
        "macs_executed": "{:,}".format, "cycles_total": "{:,}".format, "folds": "{:,}".format,
        "pe_utilization": lambda v: f"{v:.1%}",
        "mapping_efficiency": lambda v: f"{v:.1%}",
        "speedup_vs_dense": lambda v: f"{v:.2f}x",
    }
    renamed = {"macs_executed": "macs", "cycles_total": "cycles", "pe_utilization": "util",
               "mapping_efficiency": "mapping", "speedup_vs_dense": "speedup"}
    return shown.rename(columns=renamed).to_string(
        index=False, na_rep="", formatters={renamed.get(k, k): f for k, f in formatters.items()})


def write_tables(layers: pd.DataFrame, summary: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``layers.csv`` and ``summary.csv`` into ``out_dir`` (created if needed).

    Each file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (("layers.csv", layers), ("summary.csv", summary)):
        target = out / name
        partial = out / f".{name}.partial"
        table.to_csv(partial, index=False)
        partial.replace(target)
        written.append(target)
    return written
