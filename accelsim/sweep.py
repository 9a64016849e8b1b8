"""Sweeps: a grid of hardware configs run over one trace, in parallel, resumable.

Points that share a fold plan (same array, dataflow and timing: :func:`accelsim.simulate.plan_key`)
form one task, which reads the trace and plans every fold once and then times them on each of
its points; tasks run in the workers of any ``concurrent.futures.Executor`` (local processes by
default, or a Dask ``distributed`` cluster). As each point finishes, its summary and its layer
rows are written to ``OUT/points/<key>.summary.csv`` and ``OUT/points/<key>.csv`` under
temporary names and renamed (the layer file last: it marks the point done), so a killed sweep
loses no finished point and leaves no half-written file; ``resume=True`` skips points whose
files exist. The key hashes the config, the trace's bytes, the schedulers, the images and the
accelsim version, so a resumed sweep never mixes in results of another setup. The tables of
all points, ``OUT/results.csv`` (one row per point, layer, image and scheduler) and
``OUT/summary.csv`` (one row per point and scheduler), are rebuilt from the point files.
"""

from __future__ import annotations

import hashlib
import itertools
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from accelsim.config import FIELD_NAMES, HardwareConfig, config_from_dict, dumps_config, parse_array
from accelsim.energy.table import energy_table
from accelsim.errors import ConfigError
from accelsim.simulate import plan_key, run_configs
from accelsim.trace.format import open_trace
from accelsim.workload.layer import Network

#: Columns added to every row: the point's key and memory parameters; any other config field
#: that varies over the sweep (and is not already a column) follows them.
POINT_COLUMNS = ("point", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib",
                 "dram_bandwidth_bytes_per_cycle")


def swept_fields(configs: Sequence[HardwareConfig]) -> tuple[str, ...]:
    """:data:`POINT_COLUMNS`' fields, then every other config field that differs between points."""
    varying = [name for name in FIELD_NAMES
               if name not in POINT_COLUMNS and len({getattr(config, name) for config in configs}) > 1]
    return (*POINT_COLUMNS[1:], *varying)


def grid(base: HardwareConfig, axes: Mapping[str, Iterable]) -> list[HardwareConfig]:
    """The Cartesian product of ``axes`` (config field → values) applied to ``base``."""
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


def load_grid(path: str | Path, base: HardwareConfig) -> list[HardwareConfig]:
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
    Errors name the file and the key.
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
    places = []
    if axes:
        for values in itertools.product(*axes.values()):
            places.append(("axes", point("axes", dict(zip(axes, values)), shared)))
    points = document.get("points", [])
    if not isinstance(points, list):
        raise ConfigError(f"{path}: points: expected an array of tables ([[points]])")
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
    configs: tuple[HardwareConfig, ...]
    schedulers: tuple[str, ...]
    images: slice
    keys: tuple[str, ...]
    columns: tuple[str, ...]


def _with_point(table: pd.DataFrame, key: str, config: HardwareConfig, columns: Sequence[str]) -> pd.DataFrame:
    table.insert(0, "point", key)
    for column in (column for column in columns if column not in table.columns):
        value = getattr(config, column)
        table.insert(len(table.columns), column, value if not isinstance(value, tuple) else repr(dict(value)))
    return table


def _simulate(task: _Task) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    with open_trace(task.trace) as trace:
        results = run_configs(task.network, task.configs, task.schedulers, trace, task.images)
    return [(key, _with_point(result.layers, key, config, task.columns),
             _with_point(result.summary, key, config, task.columns))
            for key, config, result in zip(task.keys, task.configs, results)]


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    table.to_csv(partial, index=False)
    partial.replace(path)


def run_sweep(network: Network, trace: str | Path, configs: Sequence[HardwareConfig], out_dir: str | Path,
              schedulers: Sequence[str] = ("dense",), images: slice = slice(None), resume: bool = False,
              executor: Executor | None = None, workers: int = 2,
              progress: Callable[[int, int], None] | None = None, parquet: bool = False) -> SweepResult:
    """Run every config over ``trace``; returns (and writes) the tables of all points.

    ``executor`` may be any ``concurrent.futures.Executor`` (a Dask ``distributed`` client's
    ``get_executor()`` included); by default a local process pool of ``workers``. Points that
    share a fold plan are cut into at most ``workers`` tasks. ``progress(done, total)`` is
    called as points finish. ``parquet`` also writes the two tables as ``.parquet`` (needs
    pyarrow: the ``parquet`` extra).
    """
    out = Path(out_dir)
    points = out / "points"
    points.mkdir(parents=True, exist_ok=True)
    trace = Path(trace).resolve()  # workers may run in another directory
    digest = file_digest(trace)
    schedulers = tuple(schedulers)
    keys = [point_key(config, digest, schedulers, images) for config in configs]
    if len(set(keys)) != len(keys):
        raise ConfigError("sweep: the grid holds the same point twice")
    columns = swept_fields(configs)

    def finished(key: str) -> bool:
        return (points / f"{key}.csv").exists() and (points / f"{key}.summary.csv").exists()

    groups: dict[tuple, list[int]] = {}
    for index, (config, key) in enumerate(zip(configs, keys)):
        if not (resume and finished(key)):
            groups.setdefault(plan_key(config), []).append(index)
    # share plans within a group, but cut it so that every worker has work and a kill loses little
    chunks = [members[start:start + size] for members in groups.values()
              for size in [max(1, -(-len(members) // workers))] for start in range(0, len(members), size)]
    tasks = [_Task(network, str(trace), tuple(configs[i] for i in chunk), schedulers, images,
                   tuple(keys[i] for i in chunk), columns) for chunk in chunks]
    done = len(configs) - sum(len(task.keys) for task in tasks)
    if progress is not None:
        progress(done, len(configs))
    if tasks:
        owned = executor is None
        pool = executor or ProcessPoolExecutor(max_workers=workers)
        try:
            futures = [pool.submit(_simulate, task) for task in tasks]
            for future in as_completed(futures):
                for key, layers, summary in future.result():
                    _write_atomically(summary, points / f"{key}.summary.csv")
                    _write_atomically(layers, points / f"{key}.csv")
                    done += 1
                    if progress is not None:
                        progress(done, len(configs))
        finally:
            if owned:
                pool.shutdown(cancel_futures=True)
    result = SweepResult(
        pd.concat([pd.read_csv(points / f"{key}.csv") for key in keys], ignore_index=True),
        pd.concat([pd.read_csv(points / f"{key}.summary.csv") for key in keys], ignore_index=True))
    _write_atomically(result.layers, out / "results.csv")
    _write_atomically(result.summary, out / "summary.csv")
    if parquet:
        for table, name in ((result.layers, "results.parquet"), (result.summary, "summary.parquet")):
            partial = out / f".{name}.partial"
            table.to_parquet(partial, index=False)
            partial.replace(out / name)
    return result


@dataclass(frozen=True)
class SweepResult:
    """All points of a sweep: ``layers`` (``results.csv``) and ``summary`` (``summary.csv``),
    each with the point columns (:func:`swept_fields`)."""

    layers: pd.DataFrame
    summary: pd.DataFrame
