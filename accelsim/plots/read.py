"""Reading a results folder: every table checked before a figure is drawn from it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from accelsim.energy.account import ENERGY_COMPONENTS
from accelsim.plots.common import _ZERO_IF_ABSENT, ResultsError
from accelsim.report import LOST_COLUMNS


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
        negative = table[column].to_numpy(dtype=float) < 0  # counts, cycles, times and energies
        if negative.any():
            row = int(negative.argmax())
            raise ResultsError(f"{path}: {column}: expected a number ≥ 0 in row {row + 2}, got "
                               f"{table[column].iloc[row]:g}")
    if "clock_mhz" in table.columns:
        clock = pd.to_numeric(table["clock_mhz"], errors="coerce").to_numpy(dtype=float)
        bad = ~(clock > 0) | ~np.isfinite(clock)
        if bad.any():
            row = int(bad.argmax())
            raise ResultsError(f"{path}: clock_mhz: expected a positive number in row {row + 2}, got "
                               f"{table['clock_mhz'].iloc[row]!r}")


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
