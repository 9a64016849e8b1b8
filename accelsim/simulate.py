"""The pipeline of one run: workload + config → schedule → engine → report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from accelsim.config import DEFAULT_CONFIG, HardwareConfig
from accelsim.engine import simulate
from accelsim.report import add_speedup, layer_table, summary_table
from accelsim.schedule import get_scheduler
from accelsim.workload.layer import Network


@dataclass(frozen=True)
class RunResult:
    """Tables of one run; columns are documented in :mod:`accelsim.report`."""

    layers: pd.DataFrame
    summary: pd.DataFrame


def run(network: Network, config: HardwareConfig = DEFAULT_CONFIG,
        schedulers: Sequence[str] = ("dense",)) -> RunResult:
    """Simulate ``network`` on ``config`` under each scheduler (``dense`` is always included,
    as the baseline of ``speedup_vs_dense``)."""
    names = ["dense", *[name for name in schedulers if name != "dense"]]
    tables, mapped = [], {}
    for name in names:
        scheduler = get_scheduler(name)
        plans = [scheduler.plan(layer, config) for layer in network]
        tables.append(layer_table(network.name, plans, simulate(plans), config))
        mapped[name] = sum(plan.mapped_pe_folds for plan in plans)
    layers = add_speedup(pd.concat(tables, ignore_index=True))
    return RunResult(layers, summary_table(layers, config, mapped))
