"""Schedulers that reorder output channels within each gate group before pixel-skip, so that
channels which fire together share a fold and fewer pixels have to be streamed.

``balanced``
    A static order per layer, computed offline from calibration images. Hardware: a
    channel-permutation table per layer (``out_channels`` indices) used when weights are
    loaded and outputs written, on top of pixel-skip's index buffers.
``balanced-oracle``
    Per image and group, the better of the natural order and the greedy order computed from
    the image's own decisions, and per image and layer the better of that plan and the
    one-pass path: not realisable (the decisions are only known after the base pass), an
    optimistic reference — never worse than pixel-skip in two passes, though not a proven
    optimum over all orders (the static order of ``balanced`` occasionally beats it).

The order is greedy: a set starts with the most active remaining channel and grows with the
channel that adds the fewest new active pixels, until it holds one fold's worth of channels.
With channels streamed in time (IS) a set is the whole group and the order changes nothing.
"""

from __future__ import annotations

import numpy as np

from accelsim.config import HardwareConfig
from accelsim.errors import TraceError
from accelsim.schedule.gated import GateGeometry, LayerGates
from accelsim.schedule.onepass import one_pass_plan
from accelsim.schedule.plan import LayerPlan, WorkItem, items_cycles
from accelsim.workload.layer import Layer
from accelsim.schedule.skipping import PixelSkipScheduler


def greedy_channel_order(activity: np.ndarray, channels: np.ndarray, set_size: int) -> np.ndarray:
    """Order ``channels`` so that consecutive sets of ``set_size`` cover few pixels.

    ``activity`` is bool ``(len(channels), samples)``: where each channel is on.
    """
    remaining = list(range(len(channels)))
    counts = activity.sum(axis=1)
    order: list[int] = []
    while remaining:
        seed = max(remaining, key=lambda c: (counts[c], -c))
        remaining.remove(seed)
        order.append(seed)
        covered = activity[seed].copy()
        for _ in range(min(set_size, len(remaining) + 1) - 1):
            candidates = np.array(remaining)
            added = (activity[candidates] & ~covered).sum(axis=1)
            best = candidates[np.lexsort((-counts[candidates], added))[0]]
            remaining.remove(best)
            order.append(best)
            covered |= activity[best]
    return channels[np.array(order)]


class BalancedScheduler(PixelSkipScheduler):
    """Static per-layer channel order from calibration images, then pixel-skip."""

    name = "balanced"

    def reads_calibration(self, config: HardwareConfig) -> bool:
        return True  # its channel order comes from them

    def __init__(self, timer=None) -> None:
        super().__init__(timer)
        self._orders: dict[tuple, np.ndarray] = {}

    def _activity(self, geometry: GateGeometry, channels: np.ndarray) -> np.ndarray:
        if geometry.calibration is None:
            raise TraceError(f"layer {geometry.layer.name!r}: the balanced scheduler needs "
                             "calibration images")
        calibration = geometry.calibration[:, channels]  # images × channels × H × W
        return calibration.transpose(1, 0, 2, 3).reshape(len(channels), -1)

    def channel_order(self, geometry: GateGeometry, group: int) -> np.ndarray:
        # one order per tile width: configs with different arrays share this instance
        key = (geometry.layer.name, group, geometry.channel_set_size,
               self.calibration_serial(geometry.calibration))
        if key not in self._orders:
            channels = geometry.group_channels(group)
            self._orders[key] = greedy_channel_order(self._activity(geometry, channels), channels,
                                                     geometry.channel_set_size)
        return self._orders[key]


class BalancedOracleScheduler(PixelSkipScheduler):
    """Per image and group, the cheaper of the natural and the image's own greedy order; per
    image and layer, the cheaper of that two-pass plan and the one-pass path."""

    name = "balanced-oracle"

    def plan(self, layer: Layer, config: HardwareConfig, gates: LayerGates | None = None) -> LayerPlan:
        if gates is None or config.fallback == "off":
            return super().plan(layer, config, gates)
        geometry = GateGeometry(layer, config, gates)
        two_pass = self.two_pass_plan(geometry)
        if self.timed_cycles(two_pass, config) < self.one_pass_cycles(layer, config):
            return two_pass
        return one_pass_plan(geometry, self.name)

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        items = []
        for group in range(geometry.groups):
            channels = geometry.group_channels(group)
            greedy = greedy_channel_order(geometry.decisions[:, channels].T, channels, geometry.channel_set_size)
            options = [self.group_items(geometry, group, order) for order in (None, greedy)]
            items += min(options, key=lambda option: items_cycles(option, geometry.config))
        return items
