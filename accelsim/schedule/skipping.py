"""Schedulers that decide, fold by fold or pixel by pixel, which conditional work to run.

``clock-gate``
    Runs every layer in one pass (:mod:`accelsim.schedule.onepass`): the dense folds, base
    indices first, PEs of outputs that are off clock-gated after their decision. Saves
    energy; its cycles are the dense layer's exactly.
``tile-skip``
    Skips a conditional fold only when every output it holds is off. Hardware: the decision
    bits of a tile are OR-reduced before the fold is issued.
``pixel-skip``
    Per set of channels that share a fold, streams or packs only the pixels with at least one
    active output; the others are never sent. Hardware: a pixel-index buffer per channel set
    and an address generator that gathers the listed pixels.
"""

from __future__ import annotations

import numpy as np

from accelsim.config import HardwareConfig
from accelsim.schedule.dense import dense_plan
from accelsim.schedule.gated import GatedScheduler, GateGeometry, LayerGates
from accelsim.schedule.onepass import one_pass_plan
from accelsim.schedule.plan import LayerPlan, WorkItem
from accelsim.workload.layer import Layer


def _active_pixels(geometry: GateGeometry, channels: np.ndarray) -> np.ndarray:
    """Bool per pixel: at least one of ``channels`` is on there."""
    return geometry.decisions[:, channels].any(axis=1)


class ClockGateScheduler(GatedScheduler):
    """Every layer in one pass; off outputs clock-gated (energy only, dense cycles)."""

    name = "clock-gate"

    def plan(self, layer: Layer, config: HardwareConfig, gates: LayerGates | None = None) -> LayerPlan:
        if gates is None:
            return dense_plan(layer, config, self.name)
        return one_pass_plan(GateGeometry(layer, config, gates), self.name)

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        """Every conditional fold (the two-pass form of clock-gating, kept for comparison)."""
        pixels = np.arange(geometry.layer.M)
        return [geometry.conditional_item(pixels, channels, group)
                for group in range(geometry.groups) for channels in geometry.channel_sets(group)]


class TileSkipScheduler(GatedScheduler):
    """A conditional fold is skipped only when all its outputs are off."""

    name = "tile-skip"

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        items = []
        tile = geometry.pixel_tile
        for group in range(geometry.groups):
            for channels in geometry.channel_sets(group):
                active = _active_pixels(geometry, channels)
                tiles = np.add.reduceat(active, np.arange(0, len(active), tile)) > 0
                # pixels of the active tiles, in order: tiling them again gives the same folds,
                # since every tile but the last is full
                keep = np.repeat(tiles, tile)[: len(active)]
                items.append(geometry.conditional_item(np.flatnonzero(keep), channels, group))
        return items


class PixelSkipScheduler(GatedScheduler):
    """Per channel set, only pixels with at least one active output are streamed or packed."""

    name = "pixel-skip"

    def channel_order(self, geometry: GateGeometry, group: int) -> np.ndarray | None:
        """The order in which the group's channels are cut into sets (None: natural order)."""
        return None

    def group_items(self, geometry: GateGeometry, group: int, order: np.ndarray | None) -> list[WorkItem]:
        """The conditional items of one group with its channels in ``order``."""
        return [geometry.conditional_item(np.flatnonzero(_active_pixels(geometry, channels)), channels, group)
                for channels in geometry.channel_sets(group, order)]

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        return [item for group in range(geometry.groups)
                for item in self.group_items(geometry, group, self.channel_order(geometry, group))]
