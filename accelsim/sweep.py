"""Sweeps: a grid of hardware configs run over one trace, in parallel, resumable.

Every point of the grid is one :func:`accelsim.run` in a worker of any
``concurrent.futures.Executor`` (local processes by default). As each point finishes, its
rows are written to ``OUT/points/<key>.csv`` under a temporary name and renamed, so a killed
sweep loses no finished point and leaves no half-written file; ``resume=True`` skips points
whose file exists. The key hashes the config, the trace's bytes, the schedulers, the images
and the accelsim version, so a resumed sweep never mixes in results of another setup. The
table of all points is ``OUT/results.csv``, rebuilt from the point files at the end.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accelsim.config import HardwareConfig, dumps_config
from accelsim.simulate import run
from accelsim.trace.format import open_trace
from accelsim.workload.layer import Network

#: Columns added to every row: the swept parameters of its point.
POINT_COLUMNS = ("point", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib",
                 "dram_bandwidth_bytes_per_cycle")


def grid(base: HardwareConfig, axes: Mapping[str, Iterable]) -> list[HardwareConfig]:
    """The Cartesian product of ``axes`` (config field → values) applied to ``base``."""
    names = list(axes)
    return [base.replace(**dict(zip(names, values))) for values in itertools.product(*(axes[n] for n in names))]


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def point_key(config: HardwareConfig, trace_digest: str, schedulers: Sequence[str], images: slice) -> str:
    from accelsim import __version__

    text = "\n".join([dumps_config(config), trace_digest, ",".join(schedulers),
                      f"{images.start}:{images.stop}", __version__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Task:
    network: Network
    trace: str
    config: HardwareConfig
    schedulers: tuple[str, ...]
    images: slice
    key: str


def _simulate(task: _Task) -> pd.DataFrame:
    with open_trace(task.trace) as trace:
        layers = run(task.network, task.config, task.schedulers, trace, task.images).layers
    layers.insert(0, "point", task.key)
    for column in POINT_COLUMNS[1:]:
        layers.insert(len(layers.columns), column, getattr(task.config, column))
    return layers


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    table.to_csv(partial, index=False)
    partial.replace(path)


def run_sweep(network: Network, trace: str | Path, configs: Sequence[HardwareConfig], out_dir: str | Path,
              schedulers: Sequence[str] = ("dense",), images: slice = slice(None), resume: bool = False,
              executor: Executor | None = None, workers: int = 2,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Run every config over ``trace``; returns (and writes) the table of all points.

    ``executor`` may be any ``concurrent.futures.Executor`` (a Dask ``distributed`` client's
    ``get_executor()`` included); by default a local process pool of ``workers``.
    ``progress(done, total)`` is called as points finish.
    """
    out = Path(out_dir)
    points = out / "points"
    points.mkdir(parents=True, exist_ok=True)
    digest = file_digest(trace)
    schedulers = tuple(schedulers)
    tasks = [_Task(network, str(trace), config, schedulers, images, point_key(config, digest, schedulers, images))
             for config in configs]
    pending = [task for task in tasks if not (resume and (points / f"{task.key}.csv").exists())]
    done = len(tasks) - len(pending)
    if progress is not None:
        progress(done, len(tasks))
    if pending:
        owned = executor is None
        pool = executor or ProcessPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(_simulate, task): task for task in pending}
            for future in as_completed(futures):
                _write_atomically(future.result(), points / f"{futures[future].key}.csv")
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
        finally:
            if owned:
                pool.shutdown(cancel_futures=True)
    table = pd.concat([pd.read_csv(points / f"{task.key}.csv") for task in tasks], ignore_index=True)
    _write_atomically(table, out / "results.csv")
    return table
