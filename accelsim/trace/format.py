"""The gate-trace file: a versioned, validated, bit-packed format (see docs/trace-format.md).

A trace is a ZIP archive in numpy's ``.npz`` layout, written without compression (or, asked
to, with its members deflated: readers take either):

* ``manifest.npy``: a 1-D ``uint8`` array holding the UTF-8 JSON manifest;
* ``gates/<layer name>.npy``: per gated layer, a ``uint8`` array of shape
  ``(images, ceil(out_channels·out_h·out_w / 8))``: each image's decisions, flattened in
  (channel, y, x) order and packed most significant bit first (``np.packbits``), the unused
  bits of the last byte zero.

Members are stored, not deflated, so that a slice of images of one layer is read by seeking,
without loading the other images or the other layers.

This module holds the layout: its names and constants and the records the manifest describes
(:class:`TraceLayer`, :class:`TraceInfo`). The manifest's JSON is built and checked in
:mod:`accelsim.trace.manifest`, a trace is read by :mod:`accelsim.trace.reader` and written by
:mod:`accelsim.trace.writer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import TraceError

FORMAT_NAME = "accelsim-gate-trace"
FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.npy"
GATES_PREFIX = "gates/"
MAX_SIZE = 1 << 31


@dataclass(frozen=True)
class TraceLayer:
    """Shape and gating of one gated layer, as recorded in the manifest.

    ``padding_h``/``padding_w`` are per side (PyTorch's ``padding``). ``gate_groups`` is G;
    ``base_fraction`` is η, the share of input channels on the base path. ``thresholds`` are
    the per-output-channel thresholds Δ, if the exporter recorded them. ``base_layout`` is
    ``"grouped"`` (output group g's base path is input group g) or ``"shared"`` (every output's
    base path is the first η·Cin input channels; G = 1).
    """

    name: str
    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: int
    padding_h: int
    padding_w: int
    out_h: int
    out_w: int
    gate_groups: int
    base_fraction: float
    thresholds: tuple[float, ...] | None = None
    base_layout: str = "grouped"

    @property
    def decisions_per_image(self) -> int:
        return self.out_channels * self.out_h * self.out_w

    @property
    def bytes_per_image(self) -> int:
        return -(-self.decisions_per_image // 8)

    @property
    def member(self) -> str:
        return f"{GATES_PREFIX}{self.name}.npy"

    @property
    def mask_shape(self) -> tuple[int, int, int]:
        return self.out_channels, self.out_h, self.out_w

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["thresholds"] = None if self.thresholds is None else list(self.thresholds)
        if self.base_layout == "grouped":  # the default: absent, so older traces keep their bytes
            del record["base_layout"]
        return record


LAYER_INTEGER_FIELDS = ("in_channels", "out_channels", "in_h", "in_w", "kernel_h", "kernel_w",
                        "stride", "padding_h", "padding_w", "out_h", "out_w", "gate_groups")
#: per-layer fields that may be absent from a manifest (their defaults apply)
OPTIONAL_LAYER_FIELDS = ("thresholds", "base_layout")
#: how the base path's input channels are chosen: per gate group, or one set for every output
BASE_LAYOUTS = ("grouped", "shared")
MANIFEST_FIELDS = ("format", "version", "model", "dataset", "accuracy", "images", "provenance",
                   "layers")


@dataclass(frozen=True)
class TraceInfo:
    """The manifest of a trace, less its layers (free-text fields are the exporter's)."""

    model: str
    dataset: str
    images: int
    accuracy: float | None = None
    network: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)


def trace_error(path: Path, where: str, problem: str) -> TraceError:
    """The error of a trace whose ``where`` (a field or a member) has ``problem``."""
    return TraceError(f"{path}: {where}: {problem}")


def base_layout_problem(in_channels: int, gate_groups: int, base_fraction: float,
                        base_layout: Any) -> tuple[str, str] | None:
    """``(field, problem)`` when a layer's base layout does not fit its other fields, else None.

    ``"grouped"``: η in (0, 1] (the schedulers further need η = 1/G). ``"shared"``: every
    output's base path is the first η·Cin input channels, so 0 < η < 1 with η·Cin a whole
    number of channels, and G = 1 (there are no groups of base inputs)."""
    if base_layout not in BASE_LAYOUTS:
        return "base_layout", f"expected one of {', '.join(map(repr, BASE_LAYOUTS))}, got {base_layout!r}"
    if base_layout == "grouped":
        return None
    if not 0 < base_fraction < 1:
        return "base_fraction", f"expected a number in (0, 1) for base_layout 'shared', got {base_fraction!r}"
    channels = in_channels * base_fraction
    if abs(channels - round(channels)) > 1e-9 * max(1, in_channels):
        return "base_fraction", (f"in_channels·base_fraction = {in_channels}·{base_fraction} = {channels:g} "
                                 "is not a whole number of input channels (base_layout 'shared')")
    if gate_groups != 1:
        return "gate_groups", f"expected 1 for base_layout 'shared' (one base path for every output), got {gate_groups}"
    return None
