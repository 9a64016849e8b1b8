"""The files of ``accelsim run --out``: the tables, the config in force and a record of the run.

``config.toml`` is the config in force (``--config`` reads it back); ``run.json`` records what
else decided the tables: the accelsim version, the command line, the network and a digest of
its layers, the topology and trace files with their SHA-256 digests, the schedulers, the image
and calibration ranges, the timing convention, the energy profile and the wall-clock seconds
of the run. Its ``rerun`` entry is a command line that reproduces the tables from the folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from accelsim.config import HardwareConfig, dumps_config
from accelsim.report import add_config_columns, table_files
from accelsim.workload.layer import Network

#: Version of the layout of ``run.json``; raised when an entry changes meaning.
RUN_RECORD_VERSION = 1


def _span(images: range | None) -> str | None:
    return None if images is None else f"{images.start}:{images.stop}"


def run_record(command: Sequence[str], network: Network, config: HardwareConfig, schedulers: Sequence[str],
               out_dir: str | Path, seconds: float, topology: str | None = None, trace: str | None = None,
               images: range | None = None, calibration: range | None = None, batch: int = 1) -> dict[str, Any]:
    """The contents of ``run.json`` (see the module's docstring)."""
    from accelsim import __version__
    from accelsim.sweep_store import file_digest, network_digest

    def source(path: str | None) -> dict[str, str] | None:
        return None if path is None else {"path": str(Path(path).resolve()), "sha256": file_digest(path)}

    rerun = ["accelsim", "run"] + ([str(Path(trace).resolve())] if trace is not None else [])
    rerun += (["--topology", str(Path(topology).resolve())] if topology is not None
              else ["--network", network.name])
    rerun += ["--config", str(Path(out_dir) / "config.toml"), "--scheduler", ",".join(schedulers)]
    for option, value in (("--images", images), ("--calibration", calibration)):
        if value is not None:
            rerun += [option, _span(value)]
    if batch != 1:
        rerun += ["--batch", str(batch)]
    return {
        "format": RUN_RECORD_VERSION,
        "accelsim_version": __version__,
        "command": list(command),
        "network": {"name": network.name, "layers": len(network), "macs_per_image": network.macs,
                    "sha256": network_digest(network)},
        "topology": source(topology),
        "trace": source(trace),
        "schedulers": list(schedulers),
        "images": _span(images),
        "calibration": _span(calibration),
        "batch": batch,
        "timing": config.timing,
        "energy_profile": config.energy_profile,
        "config": "config.toml",
        "wall_seconds": round(seconds, 6),
        "rerun": rerun,
    }


def run_files(out_dir: str | Path, layers: pd.DataFrame, summary: pd.DataFrame, config: HardwareConfig,
              record: Mapping[str, Any], parquet: bool = False) -> dict[Path, bytes | None]:
    """Path → contents of every file of the folder: ``layers.csv``, ``summary.csv`` (with the
    config fields as columns, as a sweep's), ``config.toml``, ``run.json`` and, with
    ``parquet``, ``layers.parquet`` and ``summary.parquet`` (needs pyarrow; without it, those
    of an earlier run map to None: removed, :func:`accelsim.report.table_files`)."""
    out = Path(out_dir)
    summary = add_config_columns(summary.copy(), config)
    files = table_files(out, {"layers": layers, "summary": summary}, parquet)
    files[out / "config.toml"] = dumps_config(config).encode()
    files[out / "run.json"] = (json.dumps(record, indent=2, allow_nan=False) + "\n").encode()
    return files
