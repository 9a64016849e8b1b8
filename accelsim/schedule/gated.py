"""Three-phase execution of a gated layer, shared by every gating scheduler.

Per image and per gate group g (output channels ``g·N/G … (g+1)·N/G − 1``):

1. **base pass**: the GEMM of all output pixels × the group's channels over its base inputs,
   ``K_base = (Cin/G)·kh·kw`` reduction indices (input group g); a fold's columns never mix
   groups, whose inputs differ;
2. **gate**: each partial sum is compared with its channel's threshold as it leaves the array,
   and a decision bit is written;
3. **conditional pass** over the other ``K_cond = K − K_base`` reduction indices, for the
   outputs the scheduler chooses; the output unit adds the result only where the gate is on,
   so an output that is off keeps its base partial sum.

A scheduler only decides the conditional pass: :meth:`GatedScheduler.conditional_items`.
How outputs meet the array comes from the dataflow table: the output channels lie along the
columns (OS, WS) or stream in time (IS); the output pixels lie along the rows (OS), stream in
time (WS) or lie along the columns (IS).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.arch.timing import get_timing
from accelsim.config import HardwareConfig
from accelsim.errors import TraceError
from accelsim.schedule.dense import dense_plan
from accelsim.schedule.plan import PHASE_BASE, PHASE_CONDITIONAL, LayerPlan, WorkItem, plan_from_items
from accelsim.trace.format import TraceLayer
from accelsim.workload.layer import Layer


@dataclass(frozen=True)
class LayerGates:
    """The gates of one layer for one image.

    Attributes
    ----------
    trace:
        The layer's description in the trace (gate groups G, base fraction η).
    decisions:
        Bool ``(out_channels, out_h, out_w)``: the image's decisions.
    calibration:
        Bool ``(images, out_channels, out_h, out_w)``: decisions of calibration images, for
        schedulers that fix a static order of channels offline; None if not given.
    """

    trace: TraceLayer
    decisions: np.ndarray
    calibration: np.ndarray | None = None


class GateGeometry:
    """A gated layer's groups, reduction index sets and channel sets on one array."""

    def __init__(self, layer: Layer, config: HardwareConfig, gates: LayerGates) -> None:
        groups = gates.trace.gate_groups
        if abs(gates.trace.base_fraction * groups - 1) > 1e-9:
            raise TraceError(f"layer {layer.name!r}: base_fraction {gates.trace.base_fraction} must be "
                             f"1/gate_groups (1/{groups}) for channel-grouped gating")
        self.layer, self.config, self.groups = layer, config, groups
        self.flow = get_dataflow(config.dataflow)
        self.channels_per_group = layer.out_channels // groups
        self.k_base = layer.K // groups
        # M × N: pixel-major, as the GEMM's output
        self.decisions = gates.decisions.reshape(layer.out_channels, -1).T
        self.calibration = gates.calibration

    def group_channels(self, group: int) -> np.ndarray:
        return np.arange(group * self.channels_per_group, (group + 1) * self.channels_per_group)

    def base_k(self, group: int) -> np.ndarray:
        return np.arange(group * self.k_base, (group + 1) * self.k_base)

    def conditional_k(self, group: int) -> np.ndarray:
        k = np.arange(self.layer.K)
        return k[(k < group * self.k_base) | (k >= (group + 1) * self.k_base)]

    def _extent_per_fold(self, dim: str, streamed: int) -> int:
        """How many elements of GEMM dimension ``dim`` one fold holds: R or C when the
        dimension lies along rows or columns, all ``streamed`` of them when it streams in time."""
        sizes = {self.flow.rows_dim: self.config.array_rows, self.flow.cols_dim: self.config.array_cols,
                 self.flow.time_dim: streamed}
        return sizes[dim]

    @cached_property
    def channel_set_size(self) -> int:
        """Channels that share one conditional fold: a column tile when channels lie along
        the columns (OS, WS), the whole group when they stream in time (IS)."""
        return self._extent_per_fold("N", self.channels_per_group)

    @cached_property
    def pixel_tile(self) -> int:
        """Pixels that share one fold: a row tile (OS), a column tile (IS), or all of them
        when pixels stream in time (WS)."""
        return self._extent_per_fold("M", self.layer.M)

    def channel_sets(self, group: int, order: np.ndarray | None = None) -> list[np.ndarray]:
        """The group's channels (in ``order`` if given) cut into sets of :attr:`channel_set_size`."""
        channels = self.group_channels(group) if order is None else order
        size = self.channel_set_size
        return [channels[start:start + size] for start in range(0, len(channels), size)]

    def conditional_item(self, pixels: np.ndarray, channels: np.ndarray, group: int) -> WorkItem | None:
        """The conditional GEMM of ``pixels × channels`` (None when there is nothing to do:
        no pixels, or no conditional inputs because G = 1)."""
        k_index = self.conditional_k(group)
        if len(pixels) == 0 or len(k_index) == 0:
            return None
        active = int(self.decisions[np.ix_(pixels, channels)].sum())
        return WorkItem(PHASE_CONDITIONAL, pixels, channels, k_index, active * len(k_index))


class GatedScheduler:
    """Base of the gating schedulers: runs the base pass, asks the subclass for the
    conditional pass. Ungated layers (no gates) run dense."""

    name = "gated"

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        """The conditional work of one image: one or more items per gate group."""
        raise NotImplementedError

    def plan(self, layer: Layer, config: HardwareConfig, gates: LayerGates | None = None) -> LayerPlan:
        if gates is None:
            return dense_plan(layer, config, self.name)
        geometry = GateGeometry(layer, config, gates)
        base = [WorkItem(PHASE_BASE, np.arange(layer.M), geometry.group_channels(group),
                         geometry.base_k(group), layer.M * geometry.channels_per_group * geometry.k_base)
                for group in range(geometry.groups)]
        items = base + [item for item in self.conditional_items(geometry) if item is not None]
        return plan_from_items(layer, self.name, items, config,
                               get_timing(config.timing).layer_offset_cycles,
                               float(gates.decisions.mean()), geometry.groups)
