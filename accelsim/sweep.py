"""Sweeps: a grid of hardware configs run over one trace, in parallel, resumable.

Points that share their fold plans (:func:`accelsim.simulate.plan_key`: the array, dataflow,
timing, scheduler fields and the memory fields a plan depends on) form one task, which reads
the trace and plans every fold once and then times them on each of its points; tasks run in
the workers of any ``concurrent.futures.Executor`` (local processes by default, or a Dask
``distributed`` cluster). As each point finishes, its summary and its layer
rows are written to ``OUT/points/<key>.summary.csv`` and ``OUT/points/<key>.csv`` under
temporary names and renamed, then ``OUT/points/<key>.done`` records their SHA-256 digests; a
point counts as done only when both files match that record, so a killed sweep loses no
finished point and ``resume=True`` recomputes any point whose files are missing, truncated or
altered. The key hashes every config field, the network's layers, the trace's bytes, the
schedulers, the image and calibration ranges and the accelsim version, so a resumed sweep never
mixes in results of another setup. The tables of all points, ``OUT/results.csv`` (one row per
point, layer, image and scheduler) and ``OUT/summary.csv`` (one row per point and scheduler),
are rebuilt from the point files (:mod:`accelsim.sweep_store` writes and checks them, and locks
the folder).

A sweep holds an exclusive lock on ``OUT/.lock`` while it runs (a second sweep into the same
folder is refused; the lock dies with the process), local workers die with the sweep even when
it is killed, and a grid of more than :data:`MAX_POINTS` points is refused before anything runs.
"""

from __future__ import annotations

import ctypes
import io
import itertools
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from accelsim.atomic import write_files_atomically
from accelsim.config import FIELD_NAMES, HardwareConfig, config_from_dict, parse_array
from accelsim.energy.table import energy_table
from accelsim.errors import ConfigError, SweepError
from accelsim.report import add_config_columns, table_files
from accelsim.simulate import _image_range, calibration_window, plan_key, run_configs
from accelsim.sweep_store import SweepFolder, file_digest, network_digest, point_key, read_point, write_point
from accelsim.trace.reader import open_trace
from accelsim.workload.layer import Network

#: Most points a sweep runs unless the caller raises the limit (``--max-points``): each point
#: costs two files and a task, and a typo in a list can multiply a grid by thousands.
MAX_POINTS = 100_000

#: Columns added to every row: the point's key and memory parameters; any other config field
#: that varies over the sweep (and is not already a column) follows them.
POINT_COLUMNS = ("point", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib",
                 "dram_bandwidth_bytes_per_cycle")


def swept_fields(configs: Sequence[HardwareConfig]) -> tuple[str, ...]:
    """:data:`POINT_COLUMNS`' fields, then every other config field that differs between points."""
    varying = [name for name in FIELD_NAMES
               if name not in POINT_COLUMNS and len({getattr(config, name) for config in configs}) > 1]
    return (*POINT_COLUMNS[1:], *varying)


def check_points(count: int, max_points: int, where: str) -> None:
    """Refuse a sweep of more than ``max_points`` points before any of them is made."""
    if count > max_points:
        raise SweepError(f"{where}: {count:,} points, more than the limit of {max_points:,}; "
                         "give fewer values (or raise --max-points)")


def grid(base: HardwareConfig, axes: Mapping[str, Iterable],
         max_points: int = MAX_POINTS) -> list[HardwareConfig]:
    """The Cartesian product of ``axes`` (config field → values) applied to ``base``; more
    than ``max_points`` points is a :class:`SweepError`, raised before the product is made."""
    axes = {name: list(values) for name, values in axes.items()}
    check_points(math.prod(len(values) for values in axes.values()), max_points, "grid")
    names = list(axes)
    return [base.replace(**dict(zip(names, values))) for values in itertools.product(*(axes[n] for n in names))]


def _point_fields(where: str, table: Any) -> dict[str, Any]:
    """A TOML table of config fields, ``array = "RxC"`` spelled out into rows and columns."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of config fields")
    fields = dict(table)
    if "array" in fields:
        try:
            fields["array_rows"], fields["array_cols"] = parse_array(str(fields.pop("array")))
        except ConfigError as error:
            raise ConfigError(f"{where}.array{str(error).removeprefix('--array')}") from None
    return fields


def load_grid(path: str | Path, base: HardwareConfig, max_points: int = MAX_POINTS) -> list[HardwareConfig]:
    """The points of a grid file (TOML) over ``base``::

        [base]                 # fields every point shares (optional)
        timing = "physical"
        [axes]                 # the Cartesian product of these lists (optional)
        array = ["8x8", "16x16"]
        ifmap_sram_kib = [32, 64, 128]
        [[points]]             # and any further single points (optional)
        array = "128x128"
        dram_bandwidth_bytes_per_cycle = 8

    Keys are :class:`~accelsim.config.HardwareConfig` fields, or ``array = "ROWSxCOLS"``.
    Errors name the file and the key; more than ``max_points`` points is refused before any
    is made.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    unknown = sorted(set(document) - {"base", "axes", "points"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown table; expected base, axes or points")
    def point(where: str, fields: Any, over: HardwareConfig) -> HardwareConfig:
        try:
            config = config_from_dict(_point_fields(where, fields), over)
            energy_table(config)  # the [energy] entries are checked here, not in a worker
            return config
        except ConfigError as error:
            message = str(error)
            raise ConfigError(f"{path}: {message if message.startswith(where) else f'{where}.{message}'}") from None

    shared = point("base", document.get("base", {}), base)
    axes = document.get("axes", {})
    if not isinstance(axes, dict):
        raise ConfigError(f"{path}: axes: expected a table of lists")
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: axes.{name}: expected a non-empty list of values")
    points = document.get("points", [])
    if not isinstance(points, list):
        raise ConfigError(f"{path}: points: expected an array of tables ([[points]])")
    count = (math.prod(len(values) for values in axes.values()) if axes else 0) + len(points)
    check_points(count, max_points, str(path))
    places = []
    if axes:
        for values in itertools.product(*axes.values()):
            places.append(("axes", point("axes", dict(zip(axes, values)), shared)))
    for index, fields in enumerate(points):
        places.append((f"points[{index}]", point(f"points[{index}]", fields, shared)))
    if not places:
        raise ConfigError(f"{path}: no points; expected an [axes] table or [[points]]")
    seen: dict[HardwareConfig, str] = {}
    for where, config in places:
        if config in seen:
            raise ConfigError(f"{path}: {where}: the same point as one from {seen[config]}")
        seen[config] = where
    return [config for _, config in places]


@dataclass(frozen=True)
class _Task:
    network: Network
    trace: str | None
    configs: tuple[HardwareConfig, ...]
    schedulers: tuple[str, ...]
    images: slice
    calibration: slice
    keys: tuple[str, ...]
    columns: tuple[str, ...]


def _with_point(table: pd.DataFrame, key: str, config: HardwareConfig, columns: Sequence[str]) -> pd.DataFrame:
    table.insert(0, "point", key)
    return add_config_columns(table, config, columns)


def _simulate(task: _Task) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    results = run_configs(task.network, task.configs, task.schedulers, task.trace, task.images, task.calibration)
    return [(key, _with_point(result.layers, key, config, task.columns),
             _with_point(result.summary, key, config, task.columns))
            for key, config, result in zip(task.keys, task.configs, results)]


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int | None) -> None:
    """Initializer of the local workers: a worker must not outlive its sweep, even one killed
    with SIGKILL (a forked worker waits on its task queue forever otherwise)."""
    parent = parent or os.getppid()
    if sys.platform.startswith("linux"):
        try:  # the kernel kills us when the parent dies
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:  # portable fallback: an orphan is re-parented
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="accelsim-parent-watch", daemon=True).start()


def _local_pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context()
    # under fork and spawn a worker's parent is this process; under forkserver it is the server
    parent = os.getpid() if context.get_start_method() in ("fork", "spawn") else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent,
                               initargs=(parent,))


def run_sweep(network: Network, trace: str | Path | None, configs: Sequence[HardwareConfig], out_dir: str | Path,
              schedulers: Sequence[str] = ("dense",), images: slice = slice(None), resume: bool = False,
              executor: Executor | None = None, workers: int = 2,
              progress: Callable[[int, int], None] | None = None, parquet: bool = False,
              calibration: slice | None = None, max_points: int = MAX_POINTS) -> SweepResult:
    """Run every config over ``trace`` (None: the network alone, dense); returns (and writes)
    the tables of all points.

    ``executor`` may be any ``concurrent.futures.Executor`` (a Dask ``distributed`` client's
    ``get_executor()`` included); by default a local process pool of ``workers``. Points that
    share a fold plan are cut into at most ``workers`` tasks. ``progress(done, total)`` is
    called as points finish. ``parquet`` also writes the two tables as ``.parquet`` (needs
    pyarrow: the ``parquet`` extra). ``calibration`` is as for :func:`accelsim.simulate.run`.
    Everything is checked before ``out_dir`` is created; a second sweep into the same folder
    is refused while this one runs.
    """
    check_points(len(configs), max_points, "sweep")
    out = Path(out_dir)
    points = out / "points"
    if trace is None:  # the network alone, dense: one pass, no images
        image_range = window = range(0, 0)
        digest = "no trace"
    else:
        trace = Path(trace).resolve()  # workers may run in another directory
        with open_trace(trace) as opened:
            image_range = _image_range(opened, images)
            window = _image_range(opened, calibration_window(opened, calibration), "calibration")
        digest = file_digest(trace)
    schedulers = tuple(schedulers)
    layout = network_digest(network)
    keys = [point_key(config, digest, schedulers, image_range, window, layout) for config in configs]
    if len(set(keys)) != len(keys):
        raise ConfigError("sweep: the grid holds the same point twice")
    columns = swept_fields(configs)
    with SweepFolder(out):
        groups: dict[tuple, list[int]] = {}
        for index, (config, key) in enumerate(zip(configs, keys)):
            if not (resume and read_point(points, key) is not None):
                groups.setdefault(plan_key(config), []).append(index)
        # share plans within a group, but cut it so that every worker has work and a kill loses little
        chunks = [members[start:start + size] for members in groups.values()
                  for size in [max(1, -(-len(members) // workers))] for start in range(0, len(members), size)]
        tasks = [_Task(network, None if trace is None else str(trace), tuple(configs[i] for i in chunk), schedulers,
                       slice(image_range.start, image_range.stop), slice(window.start, window.stop),
                       tuple(keys[i] for i in chunk), columns) for chunk in chunks]
        done = len(configs) - sum(len(task.keys) for task in tasks)
        if progress is not None:
            progress(done, len(configs))
        if tasks:
            owned = executor is None
            pool = executor or _local_pool(workers)
            try:
                futures = [pool.submit(_simulate, task) for task in tasks]
                for future in as_completed(futures):
                    for key, layers, summary in future.result():
                        write_point(points, key, layers, summary)
                        done += 1
                        if progress is not None:
                            progress(done, len(configs))
            except BrokenProcessPool:
                raise SweepError(f"{out}: a worker process died (killed, or out of memory); the finished "
                                 "points are kept: rerun with --resume") from None
            finally:
                if owned:
                    pool.shutdown(cancel_futures=True)
        tables: list[tuple[pd.DataFrame, pd.DataFrame]] = []
        for key in keys:
            files = read_point(points, key)
            if files is None:
                raise SweepError(f"{points / key}.csv: changed while the sweep ran; rerun with --resume")
            tables.append((pd.read_csv(io.BytesIO(files[0])), pd.read_csv(io.BytesIO(files[1]))))
        result = SweepResult(pd.concat([layers for layers, _ in tables], ignore_index=True),
                             pd.concat([summary for _, summary in tables], ignore_index=True))
        try:
            write_files_atomically(table_files(out, {"results": result.layers, "summary": result.summary},
                                               parquet))
        except OSError as error:
            raise SweepError(f"{out}: cannot write the tables ({error.strerror or error})") from None
    return result


@dataclass(frozen=True)
class SweepResult:
    """All points of a sweep: ``layers`` (``results.csv``) and ``summary`` (``summary.csv``),
    each with the point columns (:func:`swept_fields`)."""

    layers: pd.DataFrame
    summary: pd.DataFrame
