"""Synthetic gate traces with the structure of real ones, and fitting them to a real trace.

Each decision thresholds a latent value built from independent parts (all in units of the
standard deviation of the *field*, the first three parts together):

``z[n,c,y,x] = √a·O[n,y,x] + √g·S[n,group(c),y,x] + √(1−a−g−p)·U[n,c,y,x] + √p·E[n,c,y,x] + b[c] + v[n]``

* ``O``: a spatially smooth field shared by every channel of the layer (object regions on,
  background off); ``S``: one shared by the channels of a gate group (they see the same base
  inputs); ``U``: each channel's own smooth field; ``E``: white noise per decision.
  Smooth fields are white noise blurred by a Gaussian of standard deviation
  ``length_scale · out_w`` pixels (periodic boundaries), scaled to unit variance.
* ``b[c] ~ N(0, channel_bias_std²)``: per-channel bias, drawn once per layer: channels differ
  in how often they are on.
* ``v[n] ~ N(0, image_std²)``: per-image offset, drawn once per (layer, image): some images
  need more work than others.
* The decision is ``z > θ``, with θ solved per layer so that the expected on-rate, given the
  drawn ``b`` and over the distribution of ``v``, is the layer's rate.

Images are generated independently from seeds derived from (seed, layer, image), so a trace
of 16 images begins with the trace of 8, and memory holds one chunk of images at a time.

``independent`` coin flips (each decision on with probability ``rate``, nothing shared) are an
explicit baseline only: real gate maps are structured, and the coin-flip model gives wrong
speedups for every scheduler that packs work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import TraceError
from accelsim.limits import MAX_SYNTH_BYTES, MAX_SYNTH_IMAGE_DECISIONS, MAX_SYNTH_IMAGES
from accelsim.trace.format import TraceInfo, TraceLayer
from accelsim.trace.network import as_trace_layer, gateable_layers
from accelsim.trace.writer import TraceWriter, pack_masks
from accelsim.workload.layer import Network

CHUNK_IMAGES = 16
#: decisions generated at once (a chunk holds fewer images of a large layer)
CHUNK_DECISIONS = 1 << 22


@dataclass(frozen=True)
class SynthKnobs:
    """The generator's parameters (see the module docstring for the model).

    Attributes
    ----------
    length_scale:
        Correlation length of the smooth fields, as a fraction of the map width (at most 0.5:
        beyond it a map is nearly constant).
    global_share:
        a: fraction of the field's variance shared by every channel of the layer.
    group_share:
        g: fraction of the field's variance shared by the channels of a gate group.
    noise_share:
        p: fraction of the field's variance that is per-decision white noise.
    channel_bias_std:
        Spread of the per-channel biases, in field standard deviations.
    image_std:
        Spread of the per-image offsets, in field standard deviations.
    independent:
        Ignore everything above and flip an independent coin per decision (a baseline).
    """

    length_scale: float = 0.15
    global_share: float = 0.2
    group_share: float = 0.3
    noise_share: float = 0.2
    channel_bias_std: float = 0.8
    image_std: float = 0.3
    independent: bool = False

    def __post_init__(self) -> None:
        for name, low, high in (("length_scale", 0, 0.5), ("global_share", 0, 1), ("group_share", 0, 1),
                                ("noise_share", 0, 1),
                                ("channel_bias_std", 0, 10), ("image_std", 0, 10)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not low <= value <= high:
                raise TraceError(f"synthetic knob {name}: expected a number from {low} to {high}, got {value!r}")
        if self.global_share + self.group_share + self.noise_share > 1 + 1e-9:
            raise TraceError("synthetic knobs: global_share + group_share + noise_share must not "
                             f"exceed 1, got {self.global_share} + {self.group_share} + {self.noise_share}")

    @property
    def channel_share(self) -> float:
        return max(0.0, 1.0 - self.global_share - self.group_share - self.noise_share)


FITTED_KNOBS = ("length_scale", "global_share", "group_share", "noise_share", "channel_bias_std",
                "image_std")


def _gaussian_transfer(height: int, width: int, sigma: float) -> np.ndarray:
    """Frequency response of a periodic Gaussian blur, scaled so blurred unit white noise has
    unit variance."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    response = np.exp(-2 * (math.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    # variance of the blurred noise = mean over the full frequency grid of |H|²
    weights = np.full(fx.shape, 2.0)
    weights[:, 0] = 1.0
    if width % 2 == 0:
        weights[:, -1] = 1.0
    variance = float((weights * response ** 2).sum()) / (height * width)
    return response / math.sqrt(variance)


def _smooth_fields(rng: np.random.Generator, count: int, height: int, width: int,
                   transfer: np.ndarray) -> np.ndarray:
    noise = rng.standard_normal((count, height, width))
    return np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=(height, width))


def _normal_tail(x: np.ndarray) -> np.ndarray:
    """P(Z > x) for a standard normal Z (Abramowitz & Stegun 7.1.26, error < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erfc = poly * np.exp(-z * z)
    return np.where(x >= 0, erfc / 2, 1 - erfc / 2)


def _threshold(rate: float, bias: np.ndarray, spread: float) -> float:
    """θ such that the mean over channels of P(bias + N(0, spread²) > θ) equals ``rate``."""
    low, high = bias.min() - 10 * spread, bias.max() + 10 * spread
    for _ in range(100):
        middle = (low + high) / 2
        if _normal_tail((middle - bias) / spread).mean() > rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


class LayerGenerator:
    """Draws the masks of one gated layer, image by image, deterministically."""

    def __init__(self, layer: TraceLayer, rate: float, knobs: SynthKnobs, seed: int,
                 layer_index: int, images: int) -> None:
        if not 0 <= rate <= 1:
            raise TraceError(f"layer {layer.name!r}: on-rate must be in [0, 1], got {rate}")
        self.layer, self.rate, self.knobs = layer, rate, knobs
        self.seed = (seed, layer_index)
        rng = np.random.default_rng([seed, layer_index, 0])
        self.bias = rng.normal(0, knobs.channel_bias_std, layer.out_channels)
        self.image_offset = rng.normal(0, knobs.image_std, images)  # image i's is the same for any count
        # in expectation over images, so that a trace's first images do not depend on its length
        self.threshold = _threshold(rate, self.bias, math.sqrt(1 + knobs.image_std ** 2))
        self.group_of_channel = np.arange(layer.out_channels) // (layer.out_channels // layer.gate_groups)
        self.transfer = _gaussian_transfer(layer.out_h, layer.out_w, knobs.length_scale * layer.out_w)

    def image(self, index: int) -> np.ndarray:
        """Decisions of image ``index``: bool ``(C, H, W)``."""
        layer, knobs = self.layer, self.knobs
        rng = np.random.default_rng([*self.seed, 1, index])
        shape = layer.mask_shape
        if knobs.independent:
            return rng.random(shape) < self.rate
        shared = _smooth_fields(rng, 1, layer.out_h, layer.out_w, self.transfer)
        groups = _smooth_fields(rng, layer.gate_groups, layer.out_h, layer.out_w, self.transfer)
        own = _smooth_fields(rng, layer.out_channels, layer.out_h, layer.out_w, self.transfer)
        latent = (math.sqrt(knobs.global_share) * shared
                  + math.sqrt(knobs.group_share) * groups[self.group_of_channel]
                  + math.sqrt(knobs.channel_share) * own
                  + math.sqrt(knobs.noise_share) * rng.standard_normal(shape)
                  + self.bias[:, None, None] + self.image_offset[index])
        return latent > self.threshold

    def masks(self, start: int, stop: int) -> np.ndarray:
        return np.stack([self.image(i) for i in range(start, stop)])


def gated_trace_layers(network: Network, policy: str = "blocks", partitions: int = 4,
                       base_layout: str = "grouped") -> list[TraceLayer]:
    """The trace layers of a channel-gated ``network`` (layers chosen by ``policy``, see
    :func:`~accelsim.trace.network.gateable_layers`), with p = ``partitions`` (η = 1/p).

    ``base_layout="grouped"`` (CGNet's channel grouping): G = p gate groups, output group g's
    base path is input group g. ``"shared"`` (CGNet without grouping): G = 1, every output's
    base path is the first Cin/p input channels, so the base pass is one GEMM. Under
    ``"shared"`` the generator's group field S is common to every channel (they all see the
    same base inputs), adding to the global field O."""
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise TraceError(f"partitions: expected a positive integer, got {partitions!r}")
    if base_layout == "shared":
        if partitions < 2:
            raise TraceError(f"partitions: a shared base needs at least 2 partitions, got {partitions}")
        return [as_trace_layer(layer, 1, 1.0 / partitions, "shared")
                for layer in gateable_layers(network, policy)]
    return [as_trace_layer(layer, partitions, 1.0 / partitions, base_layout)
            for layer in gateable_layers(network, policy)]


def uniform_rate_for_reduction(network: Network, layers: Sequence[TraceLayer], target: float) -> float:
    """The one on-rate r that, applied to every gated layer, gives the network MAC reduction
    ``target`` (ungated layers counted dense). Raises if no r in [0, 1] reaches it."""
    gated = {layer.name: layer for layer in layers}
    dense_total = sum(layer.macs for layer in network)
    ungated = sum(layer.macs for layer in network if layer.name not in gated)
    base = sum(layer.macs * gated[layer.name].base_fraction for layer in network if layer.name in gated)
    conditional = sum(layer.macs * (1 - gated[layer.name].base_fraction)
                      for layer in network if layer.name in gated)
    if target <= 0:
        raise TraceError(f"--target-reduction: expected a positive number, got {target}")
    rate = (dense_total / target - ungated - base) / conditional
    if not 0 <= rate <= 1:
        best = dense_total / (ungated + base)
        raise TraceError(f"--target-reduction: {target:g}x is out of reach for these gated layers "
                         f"(possible range 1x to {best:.3g}x with every gate off)")
    return rate


def synthesize(path: str | Path, network: Network, layers: Sequence[TraceLayer], images: int,
               rates: Mapping[str, float], knobs: SynthKnobs = SynthKnobs(), seed: int = 0,
               provenance: Mapping[str, object] | None = None) -> Path:
    """Write a synthetic trace of ``images`` images for the gated ``layers`` of ``network``.

    ``rates[name]`` is each layer's target on-rate. Returns the path written. The trace's size
    is checked against :mod:`accelsim.limits` before anything is drawn, and memory holds one
    chunk of images of one layer at a time.
    """
    check_synth_size(images, layers, path)
    record = {"generator": "accelsim.trace.synth", "seed": seed, "knobs": asdict(knobs),
              "rates": {layer.name: rates[layer.name] for layer in layers}, **(provenance or {})}
    info = TraceInfo(model="synthetic", dataset="synthetic", images=images, accuracy=None,
                     network=network.name, provenance=record)
    with TraceWriter(path, info, layers) as writer:
        for index, layer in enumerate(layers):
            generator = LayerGenerator(layer, rates[layer.name], knobs, seed, index, images)
            step = max(1, min(CHUNK_IMAGES, CHUNK_DECISIONS // layer.decisions_per_image))
            writer.add_packed_chunks(layer.name, (pack_masks(generator.masks(start, min(start + step, images)))
                                                  for start in range(0, images, step)))
    return Path(path)


def check_synth_size(images: int, layers: Sequence[TraceLayer], path: str | Path = "synthetic trace") -> None:
    """Raise :class:`TraceError` if a synthetic trace of ``images`` images of ``layers`` would
    exceed the limits on images, on decisions per image of a layer, or on bytes."""
    if not isinstance(images, int) or isinstance(images, bool) or not 1 <= images <= MAX_SYNTH_IMAGES:
        raise TraceError(f"{path}: images: expected an integer from 1 to {MAX_SYNTH_IMAGES:,} "
                         f"(accelsim.limits.MAX_SYNTH_IMAGES), got {images!r}")
    for layer in layers:
        if layer.decisions_per_image > MAX_SYNTH_IMAGE_DECISIONS:
            raise TraceError(f"{path}: layer {layer.name!r}: {layer.decisions_per_image:,} decisions per image, more "
                             f"than the {MAX_SYNTH_IMAGE_DECISIONS:,} a synthetic trace draws "
                             "(accelsim.limits.MAX_SYNTH_IMAGE_DECISIONS)")
    total = images * sum(layer.bytes_per_image for layer in layers)
    if total > MAX_SYNTH_BYTES:
        raise TraceError(f"{path}: images: {images:,} images × {total // images:,} bytes per image is {total:,} "
                         f"bytes, more than the {MAX_SYNTH_BYTES:,} a synthetic trace may hold "
                         "(accelsim.limits.MAX_SYNTH_BYTES)")
