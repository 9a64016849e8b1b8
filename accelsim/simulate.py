"""The pipeline of one run: trace + workload + config → schedule → engine → report."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from accelsim.config import DEFAULT_CONFIG, HardwareConfig
from accelsim.energy.account import add_energy, energy_summary
from accelsim.energy.area import area_table, one_array_of
from accelsim.energy.table import energy_table
from accelsim.engine import simulate
from accelsim.errors import TraceError
from accelsim.report import layer_rows, layer_table, summary_table
from accelsim.schedule import LayerGates, get_scheduler
from accelsim.trace.network import match_trace
from accelsim.trace.reader import GateTrace, open_trace
from accelsim.workload.layer import Network

IMAGE_CHUNK = 16
DEFAULT_CALIBRATION_IMAGES = 16


@dataclass(frozen=True)
class RunResult:
    """Tables of one run; columns are documented in :mod:`accelsim.report`."""

    layers: pd.DataFrame
    summary: pd.DataFrame


def _image_range(trace: GateTrace, images: slice, what: str = "images") -> range:
    start, stop, step = images.indices(trace.images)
    # a bound past the end is refused, not clipped: 0:999999 must not silently mean 0:N
    beyond = ((images.start is not None and images.start >= trace.images)
              or (images.stop is not None and images.stop > trace.images))
    if step != 1 or start >= stop or beyond:
        shown = f"{'' if images.start is None else images.start}:{'' if images.stop is None else images.stop}"
        raise TraceError(f"{trace.path}: {what}: expected a non-empty range of images within "
                         f"0:{trace.images}, got {shown}")
    return range(start, stop)


def calibration_window(trace: GateTrace, calibration: slice | None, batch: int = 1) -> slice:
    """``calibration``, or by default the first 16 images (fewer if the trace is shorter),
    rounded up to whole batches where the trace allows."""
    if calibration is not None:
        return calibration
    wanted = -(-DEFAULT_CALIBRATION_IMAGES // batch) * batch
    return slice(0, min(wanted, trace.images // batch * batch or trace.images))


def _whole_batches(trace: GateTrace, images: range, batch: int, what: str) -> range:
    if len(images) % batch:
        raise TraceError(f"{trace.path}: {what}: {images.start}:{images.stop} holds {len(images)} images, "
                         f"not a whole number of batches of {batch}")
    return images


def _batched(masks: np.ndarray, batch: int) -> np.ndarray:
    """Decisions ``(images, N, H, W)`` as ``(images / batch, N, batch · H, W)``: the images of
    a batch stacked along the output pixels, image by image, as the batched layer's M."""
    images, channels, height, width = masks.shape
    stacked = masks.reshape(images // batch, batch, channels, height, width).transpose(0, 2, 1, 3, 4)
    return stacked.reshape(images // batch, channels, batch * height, width)


def run(network: Network, config: HardwareConfig = DEFAULT_CONFIG,
        schedulers: str | Sequence[str] = ("dense",), trace: GateTrace | str | os.PathLike | None = None,
        images: slice = slice(None), calibration: slice | None = None,
        progress: Callable[[int], None] | None = None, batch: int = 1, workers: int = 1) -> RunResult:
    """Simulate ``network`` on ``config`` under each scheduler (a name or a sequence of names).

    ``dense`` always runs, as the baseline of ``speedup_vs_dense``. With a gate ``trace`` (open,
    or a path, which is opened and closed here), its
    layers are matched to the network's by name (the others run dense) and every image in
    ``images`` is simulated; ``calibration`` (default: the first 16 images) are the images
    from which static schedulers fix their channel order. ``progress``, if given, is called
    with the number of images finished.

    ``batch`` images run together through each layer (:attr:`Layer.batch`): with a trace,
    consecutive images of ``images`` (and of ``calibration``) form the batches, each with its
    own decisions, so both must hold whole batches (``calibration`` only where a scheduler
    reads it: ``balanced``, or any gated one with ``fallback = "calibrated"``). A row of the ``layers`` table is then one
    batch, named by its first image.

    ``workers`` > 1 splits the images into that many consecutive parts, run in as many
    processes; the tables are those of one process, row for row.
    """
    if workers > 1 and trace is not None:
        return _run_in_processes(network, config, schedulers, trace, images, calibration, progress, batch, workers)
    return run_configs(network, [config], schedulers, trace, images, calibration, progress, batch)[0]


def _run_part(network, config, schedulers, path, images, calibration, batch) -> pd.DataFrame:
    return run(network, config, schedulers, path, images, calibration, batch=batch).layers


def _run_in_processes(network, config, schedulers, trace, images, calibration, progress, batch, workers) -> RunResult:
    """:func:`run` with the images cut into ``workers`` consecutive parts of whole batches, one
    process each; the layer rows are put back in image order and the tables made from them."""
    from concurrent.futures import ProcessPoolExecutor

    if isinstance(trace, (str, os.PathLike)):
        with open_trace(trace) as opened:
            return _run_in_processes(network, config, schedulers, opened, images, calibration, progress, batch,
                                     workers)
    indices = _whole_batches(trace, _image_range(trace, images), batch, "images")
    window = calibration_window(trace, calibration, batch)  # every part calibrates on the same images
    batches = len(indices) // batch
    cuts = [indices.start + batch * (batches * part // workers) for part in range(workers + 1)]
    parts = [slice(start, stop) for start, stop in zip(cuts, cuts[1:]) if stop > start]
    with ProcessPoolExecutor(max_workers=len(parts)) as pool:
        futures = [pool.submit(_run_part, network, config, schedulers, str(trace.path), part, window, batch)
                   for part in parts]
        tables = []
        for part, future in zip(parts, futures):  # in order: the rows of one process
            tables.append(future.result())
            if progress is not None:
                progress(part.stop - indices.start)
    return _tables(pd.concat(tables, ignore_index=True), config)


def fields_read(stage: str) -> tuple[str, ...]:
    """The config fields a stage of the pipeline reads (their ``stage`` tag in the config)."""
    return tuple(spec.name for spec in fields(HardwareConfig) if spec.metadata["stage"] == stage)


def plan_key(config: HardwareConfig) -> tuple:
    """The config fields a fold plan depends on; configs that share them share plans. Those the
    schedulers read, and where a calibrated fallback chooses each layer's path by running the
    engine, those its memory model reads too (``tests/test_plan_keys.py`` checks that no other
    field changes a plan)."""
    stages = ("plan", "memory") if config.fallback == "calibrated" else ("plan",)
    return tuple(getattr(config, name) for stage in stages for name in fields_read(stage))


def run_configs(network: Network, configs: Sequence[HardwareConfig],
                schedulers: str | Sequence[str] = ("dense",), trace: GateTrace | str | os.PathLike | None = None,
                images: slice = slice(None), calibration: slice | None = None,
                progress: Callable[[int], None] | None = None, batch: int = 1) -> list[RunResult]:
    """:func:`run` for several configs at once, one result each, in order.

    The trace is read once, and each fold plan is made once per :func:`plan_key` and then
    timed on every config sharing it: only the engine and the energy account run per config.
    """
    if isinstance(schedulers, str):  # one name, not its letters
        schedulers = (schedulers,)
    if isinstance(trace, (str, os.PathLike)):
        with open_trace(trace) as opened:
            return run_configs(network, configs, schedulers, opened, images, calibration, progress, batch)
    batch = operator.index(batch)
    if batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch}")
    for config in configs:  # a config the tables cannot price is refused before anything runs
        energy_table(config), area_table(config), area_table(one_array_of(config))
    unbatched, network = network, network.batched(batch) if batch > 1 else network
    names = ["dense", *[name for name in dict.fromkeys(schedulers) if name != "dense"]]
    instances = {name: get_scheduler(name, timer=simulate) for name in names}
    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(plan_key(config), []).append(index)
    rows: list[list[dict]] = [[] for _ in configs]

    def emit(image: int, make_plans: Callable[[HardwareConfig], list]) -> None:
        for members in groups.values():
            plans = make_plans(configs[members[0]])
            for index in members:
                rows[index].extend(layer_rows(network.name, image, plans, simulate(plans, configs[index]),
                                              configs[index]))

    if trace is None:
        for scheduler in instances.values():
            emit(0, lambda config, s=scheduler: [s.plan(layer, config) for layer in network])
    else:
        gated = match_trace(unbatched, trace.layers, trace.path)
        indices = _whole_batches(trace, _image_range(trace, images), batch, "images")
        window = _image_range(trace, calibration_window(trace, calibration, batch), "calibration")
        if any(scheduler.reads_calibration(config) for scheduler in instances.values() for config in configs):
            window = _whole_batches(trace, window, batch, "calibration")
            reference = {name: _batched(trace.read(name, slice(window.start, window.stop)), batch) for name in gated}
        else:  # nothing reads them: no need for whole batches
            reference = dict.fromkeys(gated)
        # dense runs no gates: plan and time it once per config, reuse it for every image
        dense: list[tuple] = [()] * len(configs)
        for members in groups.values():
            plans = [instances["dense"].plan(layer, configs[members[0]]) for layer in network]
            for index in members:
                dense[index] = (plans, simulate(plans, configs[index]))
        chunk_images = max(1, IMAGE_CHUNK // batch) * batch
        for chunk_start in range(indices.start, indices.stop, chunk_images):
            chunk = slice(chunk_start, min(chunk_start + chunk_images, indices.stop))
            masks = {name: _batched(trace.read(name, chunk), batch) for name in gated}
            for offset, image in enumerate(range(chunk.start, chunk.stop, batch)):
                for index, (plans, timeline) in enumerate(dense):
                    rows[index].extend(layer_rows(network.name, image, plans, timeline, configs[index]))
                for name, scheduler in instances.items():
                    if name == "dense":
                        continue

                    def make_plans(config, scheduler=scheduler, offset=offset):
                        return [scheduler.plan(layer, config, LayerGates(gated[layer.name], masks[layer.name][offset],
                                                                         reference[layer.name]))
                                if layer.name in gated else scheduler.plan(layer, config) for layer in network]
                    emit(image, make_plans)
                if progress is not None:
                    progress(image - indices.start + batch)
    return [_result(config_rows, config) for config_rows, config in zip(rows, configs)]


def _result(rows: list[dict], config: HardwareConfig) -> RunResult:
    return _tables(add_energy(layer_table(rows), config), config)


def _tables(layers: pd.DataFrame, config: HardwareConfig) -> RunResult:
    """The run's tables from its layer rows (energy included)."""
    summary = summary_table(layers, config)
    energy = energy_summary(layers)
    for column in energy.columns:
        summary[column] = summary["scheduler"].map(energy[column])
    area = area_table(config).total_mm2
    summary["area_mm2"] = area
    summary["area_vs_one_array"] = area / area_table(one_array_of(config)).total_mm2
    summary["speedup_per_area"] = summary["speedup_vs_dense"] / summary["area_vs_one_array"]
    return RunResult(layers, summary)
