"""What every figure shares: the error of an unplottable table, names and colours of the kinds
of lost cycles, titles, and writing figures to files."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from accelsim.atomic import write_bytes_atomically
from accelsim.errors import AccelsimError
from accelsim.report import LOST_COLUMNS


class ResultsError(AccelsimError, ValueError):
    """A results table cannot be plotted; the message names the file and the column."""


#: how the figures name each kind of lost cycles (a kind not named here shows its column's name)
LOSS_LABELS = {"lost_fill_drain": "fill and drain", "lost_partial_tiles": "partial tiles",
               "lost_group_boundary": "group boundary",
               "lost_granularity": "off outputs no fold can leave out (trace's limit)",
               "lost_gated_idle": "other off outputs in running folds",
               "lost_imbalance": "slices waiting for the slowest", "lost_sram": "streams slowed by SRAM ports",
               "lost_stall": "DRAM stalls"}
#: where the cycles go, bottom up: the ideal, then every kind of loss
ATTRIBUTION = (("cycles_ideal", "ideal (needed MACs / PEs)"),
               *((column, LOSS_LABELS.get(column, column.removeprefix("lost_").replace("_", " ")))
                 for column in LOST_COLUMNS))
#: columns that tables written before them lack; read as 0
_ZERO_IF_ABSENT = ("lost_imbalance", "energy_crossbar_pj", "lost_sram", "cycles_sram", "energy_networks_pj",
                   "network_bytes")


def _colours(names: Sequence[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10")
    return {name: palette(index % 10) for index, name in enumerate(names)}


def _hardware(table: pd.DataFrame) -> str:
    """``"32×32 OS"``: the array and dataflow of the table's first row."""
    row = table.iloc[0]
    return f"{row['array_rows']}×{row['array_cols']} {str(row['dataflow']).upper()}"


def _title(summary: pd.DataFrame) -> str:
    return f"{summary['network'].iloc[0]} on {_hardware(summary)}, {summary['images'].iloc[0]} image(s)"


def _save(figures: dict[str, Figure], out: Path, formats: Sequence[str]) -> list[Path]:
    """Write each figure in each format into ``out``, each file whole or not at all, a regular
    file only (:mod:`accelsim.atomic`)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        for extension in formats:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=extension, dpi=120, bbox_inches="tight")
            written.append(write_bytes_atomically(out / f"{name}.{extension}", buffer.getvalue()))
        plt.close(figure)
    return written

def _short(number: float) -> str:
    return f"{number:.0f}" if abs(number) >= 100 else f"{number:.3g}"
