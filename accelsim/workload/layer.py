"""Layers and networks, and how a layer maps onto a GEMM.

A convolution is computed as the matrix product ``O[M×N] = A[M×K] · W[K×N]`` per image, with

* ``M = out_h · out_w`` (output pixels),
* ``N = out_channels`` (filters),
* ``K = in_channels / groups · kernel_h · kernel_w`` (the reduction).

A batch of B images stacks their output pixels along M (``M = B · out_h · out_w``): the
images share every fold's weights. A grouped convolution (depthwise included) is ``groups`` independent GEMMs of shape
``M × (N / groups) × K``: the input channels of two groups differ, so no fold of the array
mixes them. A fully connected layer is a 1×1 convolution on a 1×1 input (``M = 1``).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pandas as pd

from accelsim.errors import WorkloadError
from accelsim.limits import MAX_GEMM_DIMENSION, MAX_LAYERS, MAX_OPERAND_ELEMENTS

LAYER_KINDS = ("conv", "fc", "gemm")
MAX_DIMENSION = 1 << 31  # any one size, channel count or padding
MAX_MACS = 1 << 62  # keeps every 64-bit counter of a layer exact


def gemm_size_problem(m: int, n: int, k: int, groups: int = 1,
                      terms: tuple[str, str, str] = ("M", "N", "K")) -> str | None:
    """Why a layer whose GEMM is ``M×N×K`` (N all filters, K per group, ``groups`` groups)
    is too large to simulate, or None. ``terms`` say how M, N and K were given, for the message."""
    if m * n * k > MAX_MACS:
        return f"{m * n * k:,} MACs per image is more than the {MAX_MACS:,} that counters can hold"
    for name, term, value in zip("MNK", terms, (m, n, k)):
        if value > MAX_GEMM_DIMENSION:
            return (f"{term} = {value:,} is more than the {MAX_GEMM_DIMENSION:,} allowed "
                    f"for {name} (accelsim.limits.MAX_GEMM_DIMENSION)")
    for operand, elements in (("input", m * k * groups), ("weight", k * n), ("output", m * n)):
        if elements > MAX_OPERAND_ELEMENTS:
            return (f"the {operand} operand has {elements:,} elements ({terms[0]} = {m:,}, "
                    f"{terms[1]} = {n:,}, {terms[2]} = {k:,}), more than the {MAX_OPERAND_ELEMENTS:,} "
                    "allowed (accelsim.limits.MAX_OPERAND_ELEMENTS)")
    return None


def _integer(value: object) -> int | None:
    """``value`` as an ``int`` if it is an integer (numpy's included), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, tuple):
        return value
    return value, value


@dataclass(frozen=True)
class Layer:
    """One conv, fully connected or raw GEMM layer.

    Attributes
    ----------
    name:
        Unique within its network; gate traces are matched to layers by this name.
    in_channels, out_channels:
        Input channels (Cin) and filters (Cout).
    in_h, in_w:
        Input feature-map height and width in pixels, *before* padding.
    kernel_h, kernel_w:
        Filter height and width in pixels.
    stride:
        Same stride along both axes.
    pad_h, pad_w:
        Total zero rows (top + bottom) and columns (left + right) added to the input.
        PyTorch's ``padding=p`` is ``pad_h = pad_w = 2p``.
    groups:
        Channel groups of a grouped convolution (``in_channels`` for depthwise).
    kind:
        ``"conv"``, ``"fc"`` or ``"gemm"``; only changes how the layer is described.
    batch:
        Images run together (default 1): their output pixels are stacked along M and share
        the layer's weights, which are therefore fetched once per batch.
    """

    name: str
    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    pad_h: int = 0
    pad_w: int = 0
    groups: int = 1
    kind: str = field(default="conv")
    batch: int = 1

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise WorkloadError(f"{where}: name must be a non-empty string")
        for attr in ("in_channels", "out_channels", "in_h", "in_w", "kernel_h", "kernel_w",
                     "stride", "groups", "pad_h", "pad_w", "batch"):
            low = 0 if attr.startswith("pad") else 1
            value = _integer(getattr(self, attr))
            if value is None or not low <= value <= MAX_DIMENSION:
                kind = "a non-negative" if low == 0 else "a positive"
                raise WorkloadError(f"{where}: {attr} must be {kind} integer up to {MAX_DIMENSION:,}, "
                                    f"got {getattr(self, attr)!r}")
            object.__setattr__(self, attr, value)
        if self.kind not in LAYER_KINDS:
            raise WorkloadError(f"{where}: kind must be one of {', '.join(LAYER_KINDS)}, got {self.kind!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise WorkloadError(
                f"{where}: groups={self.groups} must divide in_channels={self.in_channels} "
                f"and out_channels={self.out_channels}")
        if self.kernel_h > self.in_h + self.pad_h or self.kernel_w > self.in_w + self.pad_w:
            raise WorkloadError(
                f"{where}: kernel {self.kernel_h}x{self.kernel_w} is larger than the padded input "
                f"{self.in_h + self.pad_h}x{self.in_w + self.pad_w}")
        problem = gemm_size_problem(self.M, self.N, self.K, self.groups, (
            "M (out_h·out_w)", "N (out_channels)", "K (in_channels/groups·kernel_h·kernel_w)"))
        if problem:
            raise WorkloadError(f"{where}: {problem}")

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def conv(cls, name: str, in_channels: int, out_channels: int,
             input_size: int | tuple[int, int], kernel: int | tuple[int, int],
             stride: int = 1, padding: int | tuple[int, int] = 0, groups: int = 1) -> Layer:
        """A convolution with PyTorch's arguments (``padding`` is per side)."""
        in_h, in_w = _pair(input_size)
        kernel_h, kernel_w = _pair(kernel)
        pad_y, pad_x = _pair(padding)
        return cls(name, in_channels, out_channels, in_h, in_w, kernel_h, kernel_w, stride,
                   2 * pad_y, 2 * pad_x, groups, "conv")

    @classmethod
    def fc(cls, name: str, in_features: int, out_features: int) -> Layer:
        """A fully connected layer: ``M = 1``, ``N = out_features``, ``K = in_features``."""
        return cls(name, in_features, out_features, 1, 1, kind="fc")

    @classmethod
    def gemm(cls, name: str, m: int, n: int, k: int) -> Layer:
        """A raw GEMM ``[m×k]·[k×n]``, written as a 1×1 convolution on an m×1 input."""
        return cls(name, k, n, m, 1, kind="gemm")

    # -- shapes -------------------------------------------------------------------------------
    @property
    def out_h(self) -> int:
        return (self.in_h + self.pad_h - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + self.pad_w - self.kernel_w) // self.stride + 1

    @property
    def M(self) -> int:  # noqa: N802 (the GEMM's own names)
        """Output pixels of the batch: ``batch · out_h · out_w``."""
        return self.batch * self.out_h * self.out_w

    @property
    def N(self) -> int:  # noqa: N802
        """Output channels (filters), over all groups."""
        return self.out_channels

    @property
    def K(self) -> int:  # noqa: N802
        """Reduction length of one output: ``in_channels / groups · kernel_h · kernel_w``."""
        return self.in_channels // self.groups * self.kernel_h * self.kernel_w

    @property
    def group_gemm(self) -> tuple[int, int, int]:
        """``(M, N / groups, K)``: the GEMM that each of the ``groups`` groups runs."""
        return self.M, self.N // self.groups, self.K

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the batch (of one image when ``batch`` is 1): ``M · N · K``."""
        return self.M * self.N * self.K


@dataclass(frozen=True)
class Network:
    """An ordered, named list of layers with unique names."""

    name: str
    layers: tuple[Layer, ...]
    #: what the model computes that no layer of the array runs, as an importer saw it (e.g.
    #: "7 normalization, 5 activations"), or ""; not part of the network's identity
    uncounted: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise WorkloadError(f"network {self.name!r} has no layers")
        if len(self.layers) > MAX_LAYERS:
            raise WorkloadError(f"network {self.name!r}: {len(self.layers):,} layers, more than the "
                                f"{MAX_LAYERS:,} allowed (accelsim.limits.MAX_LAYERS)")
        by_name: dict[str, Layer] = {}
        for layer in self.layers:
            if layer.name in by_name:
                raise WorkloadError(f"network {self.name!r}: duplicate layer name {layer.name!r}")
            by_name[layer.name] = layer
        object.__setattr__(self, "_by_name", by_name)  # not a field: equality ignores it

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        layer = self._by_name.get(name)
        if layer is not None:
            return layer
        raise WorkloadError(f"network {self.name!r} has no layer {name!r}")

    def batched(self, batch: int) -> Network:
        """The same network running ``batch`` images together (see :attr:`Layer.batch`)."""
        return Network(self.name, tuple(replace(layer, batch=batch) for layer in self.layers))

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one image (one batch) over all layers."""
        return sum(layer.macs for layer in self.layers)

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: shapes, GEMM dimensions and MACs."""
        rows = [{
            "layer": layer.name, "kind": layer.kind,
            "in_channels": layer.in_channels, "out_channels": layer.out_channels,
            "in_h": layer.in_h, "in_w": layer.in_w, "kernel_h": layer.kernel_h,
            "kernel_w": layer.kernel_w, "stride": layer.stride, "pad_h": layer.pad_h,
            "pad_w": layer.pad_w, "groups": layer.groups, "out_h": layer.out_h,
            "out_w": layer.out_w, "batch": layer.batch, "M": layer.M, "N": layer.N, "K": layer.K, "macs": layer.macs,
        } for layer in self.layers]
        return pd.DataFrame(rows)
