"""A run as a Chrome trace-event timeline (JSON), for Perfetto (https://ui.perfetto.dev) or
``chrome://tracing``.

One process per scheduler and, per image, three threads (tracks):

* ``array``: one complete event per layer, from its ``start_cycle`` for its ``cycles_compute``;
* ``DRAM``: per layer, the DRAM's busy time, ``(dram_read_bytes + dram_write_bytes) / bandwidth``,
  as one event from the layer's start. The engine times transfers task by task (a run of
  folds at a time) and reports only their totals, so this is an aggregate: how long the DRAM was busy
  during the layer, not when each transfer took place. Ideal memory (infinite bandwidth) has
  no DRAM events;
* ``stalls``: the layer's ``cycles_stall``, as one event right after its compute.

Times are in microseconds at the config's clock (``ts = cycle / clock_mhz``); every event's
``args`` hold the same quantities in cycles. Layers run back to back, so the last event of an
image ends at its latency, ``Σ cycles_total / clock_mhz``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from accelsim.config import HardwareConfig

TRACKS = ("array", "DRAM", "stalls")


def start_cycles(layers: pd.DataFrame) -> pd.Series:
    """Each row's ``start_cycle``; for a table without that column, the cycles of the layers
    before it in its image and scheduler (layers run back to back)."""
    if "start_cycle" in layers.columns:
        return layers["start_cycle"]
    by = [column for column in ("point", "scheduler", "image") if column in layers.columns]
    totals = layers.groupby(by, sort=False)["cycles_total"]
    return totals.cumsum() - layers["cycles_total"]


def timeline(layers: pd.DataFrame, config: HardwareConfig) -> dict[str, Any]:
    """The trace-event document of a ``layers`` table (one run, run on ``config``)."""
    clock = config.clock_mhz
    bandwidth = config.dram_bandwidth_bytes_per_cycle
    starts = start_cycles(layers)
    schedulers = list(dict.fromkeys(layers["scheduler"]))
    images = sorted(set(layers["image"].tolist()))
    thread = {image: index * len(TRACKS) for index, image in enumerate(images)}
    events: list[dict[str, Any]] = []
    for pid, scheduler in enumerate(schedulers, start=1):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"name": f"scheduler {scheduler}"}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        for image in images:
            for offset, track in enumerate(TRACKS, start=1):
                tid = thread[image] + offset
                events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                               "args": {"name": f"image {image}: {track}"}})
                events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                               "args": {"sort_index": tid}})
    pids = {scheduler: pid for pid, scheduler in enumerate(schedulers, start=1)}
    for row, start in zip(layers.itertuples(index=False), starts.tolist()):
        pid, base = pids[row.scheduler], thread[row.image]
        start, compute, stall = int(start), int(row.cycles_compute), int(row.cycles_stall)
        events.append({"name": row.layer, "cat": "array", "ph": "X", "ts": start / clock, "dur": compute / clock,
                       "pid": pid, "tid": base + 1,
                       "args": {"start_cycle": start, "cycles_compute": compute, "cycles_stall": stall, "path": row.path,
                                "folds": int(row.folds), "macs_executed": int(row.macs_executed),
                                "pe_utilization": _number(row.pe_utilization)}})
        moved = int(row.dram_read_bytes) + int(row.dram_write_bytes)
        if moved and not math.isinf(bandwidth):
            # the clamp absorbs the engine's rounding of bytes: the DRAM is never busy longer than the layer
            busy = min(moved / bandwidth, compute + stall)
            events.append({"name": f"{row.layer} DRAM", "cat": "dram", "ph": "X", "ts": start / clock,
                           "dur": busy / clock, "pid": pid, "tid": base + 2,
                           "args": {"busy_cycles": busy, "dram_read_bytes": int(row.dram_read_bytes),
                                    "dram_write_bytes": int(row.dram_write_bytes)}})
        if stall:
            events.append({"name": f"{row.layer} stall", "cat": "stall", "ph": "X",
                           "ts": (start + compute) / clock, "dur": stall / clock, "pid": pid, "tid": base + 3,
                           "args": {"cycles_stall": stall}})
    network = str(layers["network"].iloc[0]) if len(layers) else ""
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"network": network, "array": config.array, "dataflow": config.dataflow,
                          "timing": config.timing, "clock_mhz": clock,
                          "time_unit": "microseconds at clock_mhz"}}


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def timeline_json(layers: pd.DataFrame, config: HardwareConfig) -> str:
    """:func:`timeline` as compact JSON text."""
    return json.dumps(timeline(layers, config), separators=(",", ":"), allow_nan=False)
