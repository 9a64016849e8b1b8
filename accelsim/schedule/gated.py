"""Gated layers, shared by every gating scheduler: two passes, or one, chosen per layer.

**Two passes**, per image and per gate group g (output channels ``g·N/G … (g+1)·N/G − 1``):

1. **base pass**: the GEMM of all output pixels × the group's channels over its base inputs,
   ``K_base = (Cin/G)·kh·kw`` reduction indices (input group g; the first ``η·K`` indices for
   every output with a shared base); a fold's columns never mix groups, whose inputs differ;
2. **gate**: each partial sum is compared with its channel's threshold as it leaves the array,
   and a decision bit is written; the conditional pass waits ``gate_latency_cycles`` for it;
3. **conditional pass** over the other ``K_cond = K − K_base`` reduction indices, for the
   outputs the scheduler chooses; the output unit adds the result only where the gate is on,
   so an output that is off keeps its base partial sum.

A scheduler only decides the conditional pass: :meth:`GatedScheduler.conditional_items`.
**One pass** (:mod:`accelsim.schedule.onepass`) runs the dense folds with off outputs
clock-gated after their decision: dense cycles, less energy. A skipping scheduler falls back
to it per layer where two passes would be slower (:class:`GatedScheduler`).

How outputs meet the array comes from the dataflow table: the output channels lie along the
columns (OS, WS) or stream in time (IS); the output pixels lie along the rows (OS), stream in
time (WS) or lie along the columns (IS).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from accelsim.arch.dataflow import get_dataflow
from accelsim.config import HardwareConfig
from accelsim.errors import TraceError
from accelsim.schedule.dense import dense_plan
from accelsim.schedule.onepass import one_pass_plan
from accelsim.schedule.plan import PHASE_BASE, PHASE_CONDITIONAL, LayerPlan, WorkItem, plan_from_items
from accelsim.trace.format import TraceLayer
from accelsim.workload.layer import Layer

#: what times plans for the calibrated fallback: ``timer(plans, config)`` → per plan an object
#: with ``cycles_total`` (:func:`accelsim.engine.simulate`)
Timer = Callable[[Sequence[LayerPlan], HardwareConfig], Sequence]


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
        self.shared_base = getattr(gates.trace, "base_layout", "grouped") == "shared"
        if not self.shared_base and abs(gates.trace.base_fraction * groups - 1) > 1e-9:
            raise TraceError(f"layer {layer.name!r}: base_fraction {gates.trace.base_fraction} must be "
                             f"1/gate_groups (1/{groups}) for channel-grouped gating")
        self.layer, self.config, self.groups = layer, config, groups
        self.gates = gates
        self.flow = get_dataflow(config.dataflow)
        self.channels_per_group = layer.out_channels // groups
        self.k_base = (round(layer.K * gates.trace.base_fraction) if self.shared_base
                       else layer.K // groups)
        # M × N: pixel-major, as the GEMM's output
        self.decisions = gates.decisions.reshape(layer.out_channels, -1).T
        self.calibration = gates.calibration

    def group_channels(self, group: int) -> np.ndarray:
        return np.arange(group * self.channels_per_group, (group + 1) * self.channels_per_group)

    def base_k(self, group: int) -> np.ndarray:
        """The base reduction indices of the group's outputs: its own input group, or the
        first ``η·K`` indices for every output when the base is shared."""
        start = 0 if self.shared_base else group * self.k_base
        return np.arange(start, start + self.k_base)

    def conditional_k(self, group: int) -> np.ndarray:
        base = self.base_k(group)
        k = np.arange(self.layer.K)
        return k[(k < base[0]) | (k > base[-1])] if len(base) else k

    @cached_property
    def group_of_channel(self) -> np.ndarray:
        return np.arange(self.layer.N) // self.channels_per_group

    @cached_property
    def base_mask(self) -> np.ndarray:
        """K × N: reduction index k lies on output channel n's base path."""
        mask = np.zeros((self.layer.K, self.layer.N), dtype=bool)
        for group in range(self.groups):
            mask[np.ix_(self.base_k(group), self.group_channels(group))] = True
        return mask

    def one_pass_groups(self, columns: np.ndarray) -> np.ndarray:
        """The gate groups whose outputs share a one-pass fold column tile (GEMM columns
        ``columns``): the groups of its channels where channels lie along the columns (OS,
        WS), every group where they stream in time (IS)."""
        if self.flow.cols_dim == "N":
            return np.unique(self.group_of_channel[columns])
        return np.arange(self.groups)

    def one_pass_order(self, columns: np.ndarray) -> np.ndarray:
        """The order of the reduction indices in a one-pass fold column tile: the base
        indices of its groups, group by group, then the rest. The array streams one order for
        all its columns, so a column whose group comes later sees other groups' base indices
        (conditional for it) first: it accumulates those into its second accumulator."""
        base = [self.base_k(group) for group in self.one_pass_groups(columns)]
        first = np.unique(np.concatenate(base)) if self.shared_base else np.concatenate(base)
        rest = np.setdiff1d(np.arange(self.layer.K), first, assume_unique=True)
        return np.concatenate([first, rest]).astype(np.int64)

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

    @cached_property
    def granular_macs(self) -> int:
        """MACs any fold-based schedule must run at this array's channel-set width, channels
        in natural order: the base pass, and the conditional work of every (pixel, channel
        set) with at least one output on (the trace's limit, see ``trace/stats.py``)."""
        layer, width = self.layer, min(self.channel_set_size, self.channels_per_group)
        groups = self.decisions.reshape(layer.M, self.groups, self.channels_per_group)
        must_run = sum(int(groups[:, :, start:start + width].any(axis=2).sum()) * len(range(start, min(
            start + width, self.channels_per_group))) for start in range(0, self.channels_per_group, width))
        return layer.M * layer.N * self.k_base + must_run * (layer.K - self.k_base)

    def base_items(self) -> list[WorkItem]:
        """The base pass: per gate group, every pixel × the group's channels over its base
        indices (one GEMM for a shared base)."""
        layer = self.layer
        return [WorkItem(PHASE_BASE, np.arange(layer.M), self.group_channels(group), self.base_k(group),
                         layer.M * self.channels_per_group * self.k_base) for group in range(self.groups)]

    @property
    def needed_macs(self) -> int:
        """The base pass for every output, the conditional work for the outputs that are on."""
        layer = self.layer
        return layer.M * layer.N * self.k_base + int(self.decisions.sum()) * (layer.K - self.k_base)


#: two-pass plans of calibration images kept for reuse when those images are simulated
MAX_KEPT_PLANS = 256


class GatedScheduler:
    """Base of the gating schedulers. A gated layer runs in two passes (the base pass, then
    the conditional work the subclass chooses) or, where that would be slower, in one pass
    (see :mod:`accelsim.schedule.onepass`); ungated layers run dense.

    With ``fallback = "calibrated"`` the choice is made per layer before it starts, from the
    calibration images: the path whose mean cycles over them, memory model included, are
    fewer (two passes only when strictly fewer). ``"off"`` always runs two passes.
    """

    name = "gated"

    def __init__(self, timer: Timer | None = None) -> None:
        #: times plans on their config, memory included (:func:`accelsim.engine.simulate`); the
        #: calibrated fallback compares paths with it. Given by the caller, which sits above the
        #: engine: schedulers plan, they do not run the engine themselves.
        self.timer = timer
        self._paths: dict[tuple, str] = {}  # per layer, gating, calibration set and config
        self._one_pass_cycles: dict[tuple, int] = {}
        # two-pass plans made for the choice, kept for when their image is simulated
        self._calibrated: dict[tuple, LayerPlan] = {}
        # calibration arrays seen, kept alive so that their ids stay theirs
        self._calibrations: dict[int, tuple[np.ndarray, int]] = {}

    def reads_calibration(self, config: HardwareConfig) -> bool:
        """Whether plans on ``config`` read the calibration images: to choose each layer's path."""
        return config.fallback == "calibrated"

    def conditional_items(self, geometry: GateGeometry) -> list[WorkItem]:
        """The conditional work of one image: one or more items per gate group."""
        raise NotImplementedError

    def two_pass_plan(self, geometry: GateGeometry) -> LayerPlan:
        items = geometry.base_items() + [item for item in self.conditional_items(geometry) if item is not None]
        return replace(plan_from_items(geometry.layer, self.name, items, geometry.config,
                                       float(geometry.decisions.mean()), geometry.groups, "two-pass"),
                       granular_macs=geometry.granular_macs)

    def base_pass_cycles(self, geometry: GateGeometry) -> int:
        """Stall-free cycles of the base pass alone: a lower bound of any two-pass plan's."""
        return plan_from_items(geometry.layer, self.name, geometry.base_items(), geometry.config).cycles

    def plan(self, layer: Layer, config: HardwareConfig, gates: LayerGates | None = None) -> LayerPlan:
        if gates is None:
            return dense_plan(layer, config, self.name)
        geometry = GateGeometry(layer, config, gates)
        if config.fallback == "off":
            return self.two_pass_plan(geometry)
        if self._path(geometry) == "one-pass":
            return one_pass_plan(geometry, self.name)
        return self._calibrated.pop(_plan_key(geometry), None) or self.two_pass_plan(geometry)

    def calibration_serial(self, calibration: np.ndarray) -> int:
        """A number that tells calibration sets apart, for the caches keyed by them."""
        return self._calibrations.setdefault(id(calibration), (calibration, len(self._calibrations)))[1]

    def timed_cycles(self, plan: LayerPlan, config: HardwareConfig) -> int:
        """The cycles of ``plan`` on ``config``, memory model included, from :attr:`timer`."""
        if self.timer is None:
            raise ValueError(f"scheduler {self.name!r}: fallback = \"calibrated\" times plans on the memory "
                             "model: make it with get_scheduler(name, timer=accelsim.engine.simulate), "
                             "or set fallback = \"off\"")
        return self.timer([plan], config)[0].cycles_total

    def one_pass_cycles(self, layer: Layer, config: HardwareConfig) -> int:
        """Cycles of the one-pass path, memory model included: the dense folds, dense's time."""
        key = (layer.name, layer, config)
        if key not in self._one_pass_cycles:
            self._one_pass_cycles[key] = self.timed_cycles(dense_plan(layer, config, self.name), config)
        return self._one_pass_cycles[key]

    def _path(self, geometry: GateGeometry) -> str:
        """The path of a layer on a config, fixed from the calibration images."""
        layer, config, gates = geometry.layer, geometry.config, geometry.gates
        if gates.calibration is None:
            raise TraceError(f"layer {layer.name!r}: fallback = \"calibrated\" needs calibration "
                             "images (or set fallback = \"off\")")
        key = (layer.name, layer, gates.trace, config, self.calibration_serial(gates.calibration))
        if key not in self._paths:
            self._paths[key] = self._choose(geometry, self.one_pass_cycles(layer, config))
        return self._paths[key]

    def _choose(self, geometry: GateGeometry, one_pass: int) -> str:
        """Two passes when their mean cycles over the calibration images, memory model
        included, are fewer than ``one_pass``'s. Stall-free cycles bound a plan's from below,
        so a layer whose base pass alone, or whose two-pass plans without stalls, already
        take as long is decided without simulating them."""
        layer, config, gates = geometry.layer, geometry.config, geometry.gates
        if self.base_pass_cycles(geometry) >= one_pass:
            return "one-pass"
        plans = []  # one per image: images with the same decisions count as often as they occur
        for image in gates.calibration:
            calibrated = GateGeometry(layer, config, LayerGates(gates.trace, image, gates.calibration))
            plans.append((_plan_key(calibrated), self.two_pass_plan(calibrated)))
        if np.mean([plan.cycles for _, plan in plans]) >= one_pass:
            return "one-pass"
        if np.mean([self.timed_cycles(plan, config) for _, plan in plans]) >= one_pass:
            return "one-pass"
        for key, plan in plans:  # bounded: calibration images need not be simulated at all
            if len(self._calibrated) < MAX_KEPT_PLANS:
                self._calibrated[key] = plan
        return "two-pass"


def _plan_key(geometry: GateGeometry) -> tuple:
    """A layer, its gating, a config and an image's decisions: what a two-pass plan depends on
    (with the scheduler's own state, fixed for its life)."""
    digest = hashlib.blake2b(np.packbits(geometry.decisions).tobytes(), digest_size=16).digest()
    return geometry.layer.name, geometry.layer, geometry.gates.trace, geometry.config, digest
