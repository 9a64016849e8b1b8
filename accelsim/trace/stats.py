"""Statistics of gate traces: what a synthetic trace must reproduce, and what a reader needs to
judge a trace before simulating it.

Per gated layer (columns of :func:`layer_statistics`; rates are fractions of decisions):

================================  ==============================================================
``on_rate``                       mean over images of the fraction of decisions that are 1 (r)
``on_rate_image_std``             standard deviation of that fraction over images
``channel_rate_std``              standard deviation over channels of each channel's on-rate
                                  (all images and pixels pooled)
``morans_i``                      Moran's I of the gate maps with rook (4-neighbour) weights,
                                  pooled over every (image, channel) map: 1 = smooth blobs,
                                  0 = no spatial structure
``corr_within_groups``            mean Pearson correlation, over pixels, between the maps of two
                                  channels of the same gate group (same image)
``corr_across_groups``            the same for two channels of different groups
``no_channel_pixel_fraction``     fraction of (image, pixel) where no channel is on
``channels_off_fraction``         fraction of (image, channel) with no decision on
``flop_reduction``                dense MACs / gated MACs of the layer = 1 / (η + (1 − η)·r)
================================  ==============================================================

**The granularity bound.** A fold runs a set of w channels of one gate group over a set of
pixels, so it must run a pixel for the whole set if any channel of the set is on there. With
channels cut into sets of w in their natural order, ``granular_rate(w)`` is the fraction of
conditional work that any fold-based schedule must still do (``granular_rate(1)`` is the
on-rate), and the best speedup it can reach over a network, with nothing else lost, is
dense MACs / Σ MACs·(η + (1 − η)·granular_rate(w)): :func:`granularity_bounds`.

Correlations use the first :data:`CORRELATION_IMAGES` images (they cost C²·pixels per image)
and are left undefined (NaN) for a layer of more than :data:`CORRELATION_CHANNELS` channels;
everything else uses every image, read in chunks of at most :data:`CHUNK_DECISIONS` decisions
(or one image) so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from accelsim.trace.format import TraceLayer
from accelsim.trace.reader import GateTrace
from accelsim.workload.layer import Network

CORRELATION_IMAGES = 64
#: beyond this many channels the C×C correlation matrices are not computed
CORRELATION_CHANNELS = 4096
#: decisions read at once (fewer images per chunk for a large layer)
CHUNK_DECISIONS = 1 << 22
#: channel-set widths of the granularity bound: 1, 2, 4, … up to the widest gate group
MAX_GRANULARITY_WIDTH = 1 << 12
STATISTICS = ("on_rate", "on_rate_image_std", "channel_rate_std", "morans_i",
              "corr_within_groups", "corr_across_groups", "no_channel_pixel_fraction",
              "channels_off_fraction")


class _Accumulator:
    """Sums of one layer's statistics over chunks of images."""

    def __init__(self, layer: TraceLayer) -> None:
        self.layer = layer
        channels = layer.out_channels
        self.correlate = channels <= CORRELATION_CHANNELS
        if self.correlate:
            group = np.arange(channels) // (channels // layer.gate_groups)
            self.same_group = group[:, None] == group[None, :]
            self.off_diagonal = ~np.eye(channels, dtype=bool)
        self.image_rates: list[np.ndarray] = []
        self.channel_on = np.zeros(channels)
        self.moran_num = self.moran_den = 0.0
        self.corr_sum = np.zeros(2)  # within, across
        self.corr_count = np.zeros(2)
        self.no_channel = self.channels_off = 0.0
        self.images = 0
        per_group = channels // layer.gate_groups
        self.widths = [1 << i for i in range(13) if (1 << i) <= min(per_group, MAX_GRANULARITY_WIDTH)]
        if per_group not in self.widths and per_group <= MAX_GRANULARITY_WIDTH:
            self.widths.append(per_group)
        self.granular = np.zeros(len(self.widths))  # outputs each width must run

    def add(self, masks: np.ndarray) -> None:
        images, channels = masks.shape[:2]
        values = masks.astype(np.float32)
        self.images += images
        self.image_rates.append(values.mean(axis=(1, 2, 3)))
        self.channel_on += values.sum(axis=(0, 2, 3))
        self.no_channel += float((~masks.any(axis=1)).sum())
        self.channels_off += float((~masks.any(axis=(2, 3))).sum())
        deviation = values - values.mean(axis=(2, 3), keepdims=True)
        self.moran_num += 2 * float((deviation[..., :, 1:] * deviation[..., :, :-1]).sum()
                                    + (deviation[..., 1:, :] * deviation[..., :-1, :]).sum())
        self.moran_den += float((deviation ** 2).sum())
        self._add_granularity(masks)
        room = CORRELATION_IMAGES - (self.images - images)
        if room > 0 and self.correlate:
            self._add_correlations(deviation[:room].reshape(min(room, images), channels, -1))

    def _add_granularity(self, masks: np.ndarray) -> None:
        images, channels = masks.shape[:2]
        groups = self.layer.gate_groups
        grouped = masks.reshape(images, groups, channels // groups, -1)
        for index, width in enumerate(self.widths):
            for start in range(0, grouped.shape[2], width):
                chunk = grouped[:, :, start:start + width]
                self.granular[index] += float(chunk.any(axis=2).sum()) * chunk.shape[2]

    def _add_correlations(self, deviation: np.ndarray) -> None:
        for image in deviation:  # one C×C matrix at a time keeps memory at C² per image
            norms = np.sqrt((image ** 2).sum(axis=1))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = (image @ image.T) / np.outer(norms, norms)
            valid = np.isfinite(corr) & self.off_diagonal
            for index, mask in enumerate((self.same_group, ~self.same_group)):
                chosen = valid & mask
                self.corr_sum[index] += float(corr[chosen].sum())
                self.corr_count[index] += int(chosen.sum())

    def result(self) -> dict[str, float]:
        layer = self.layer
        height, width = layer.out_h, layer.out_w
        pixels = height * width
        rates = np.concatenate(self.image_rates)
        on_rate = float(rates.mean())
        pairs = 2 * (height * (width - 1) + (height - 1) * width)
        maps = self.images * layer.out_channels
        with np.errstate(invalid="ignore", divide="ignore"):
            morans = (pixels / pairs) * (self.moran_num / self.moran_den) if pairs and self.moran_den else np.nan
            within, across = self.corr_sum / self.corr_count
        eta = layer.base_fraction
        return {
            "layer": layer.name, "out_channels": layer.out_channels, "out_h": height, "out_w": width,
            "gate_groups": layer.gate_groups, "base_fraction": eta, "base_layout": layer.base_layout,
            "on_rate": on_rate,
            "on_rate_image_std": float(rates.std()),
            "channel_rate_std": float((self.channel_on / (self.images * pixels)).std()),
            "morans_i": float(morans),
            "corr_within_groups": float(within),
            "corr_across_groups": float(across),
            "no_channel_pixel_fraction": self.no_channel / (self.images * pixels),
            "channels_off_fraction": self.channels_off / maps,
            "flop_reduction": 1.0 / (eta + (1 - eta) * on_rate),
            "granular_rates": {width: float(total / (maps * pixels))
                               for width, total in zip(self.widths, self.granular)},
        }


def mask_statistics(layer: TraceLayer, chunks) -> dict[str, float]:
    """Statistics of one layer from an iterable of ``(images, C, H, W)`` mask chunks."""
    accumulator = _Accumulator(layer)
    for masks in chunks:
        accumulator.add(np.asarray(masks, dtype=bool))
    return accumulator.result()


def layer_statistics(trace: GateTrace, chunk_images: int = 64) -> pd.DataFrame:
    """One row per gated layer of ``trace`` (columns documented in this module)."""
    rows = [mask_statistics(layer, (masks for _, masks in trace.iter_chunks(
                layer.name, max(1, min(chunk_images, CHUNK_DECISIONS // layer.decisions_per_image)))))
            for layer in trace.layers]
    return pd.DataFrame(rows)


def granularity_bounds(network: Network | None, layers, table: pd.DataFrame) -> dict[int, float]:
    """The best speedup over ``network`` (or over the gated layers alone, when None) of any
    fold-based schedule with channel sets of each width, from :func:`layer_statistics`'s
    ``granular_rates``; a layer whose groups are narrower than a width runs its whole groups."""
    trace_layers = {layer.name: layer for layer in layers}
    rows = table.set_index("layer")
    if network is not None:
        dense = {layer.name: layer.macs for layer in network}
    else:
        dense = {layer.name: layer.out_h * layer.out_w * layer.out_channels * layer.in_channels
                 * layer.kernel_h * layer.kernel_w for layer in layers}
    widths = sorted({width for rates in rows["granular_rates"] for width in rates} | {1, 2, 4, 8, 16, 32})
    bounds = {}
    for width in widths:
        gated = 0.0
        for name, macs in dense.items():
            if name not in trace_layers:
                gated += macs
                continue
            rates = rows.loc[name, "granular_rates"]
            rate = rates[max(w for w in rates if w <= width)]
            eta = trace_layers[name].base_fraction
            gated += macs * (eta + (1 - eta) * rate)
        bounds[width] = sum(dense.values()) / gated
    return bounds


def trace_summary(trace: GateTrace, network: Network | None, chunk_images: int = 64) -> dict:
    """Everything ``accelsim trace info`` reports: manifest facts, the per-layer statistics
    and the network's MAC reduction (ungated layers dense). Without a network the reduction
    covers the gated layers only (their dense MACs computed from the trace's shapes)."""
    table = layer_statistics(trace, chunk_images)
    bounds = granularity_bounds(network, trace.layers, table)
    table = table.drop(columns="granular_rates")
    rates = dict(zip(table["layer"], table["on_rate"]))
    etas = {layer.name: layer.base_fraction for layer in trace.layers}
    if network is not None:
        reduction = network_flop_reduction(network, rates, etas)
    else:
        dense = {layer.name: layer.out_h * layer.out_w * layer.out_channels * layer.in_channels
                 * layer.kernel_h * layer.kernel_w for layer in trace.layers}
        reduction = sum(dense.values()) / sum(dense[n] * (etas[n] + (1 - etas[n]) * rates[n]) for n in dense)
    return {
        "file": str(trace.path), "model": trace.info.model, "dataset": trace.info.dataset,
        "accuracy": trace.info.accuracy, "images": trace.images,
        "network": None if network is None else network.name,
        "network_flop_reduction": reduction,
        "granularity_bound": {str(width): bound for width, bound in bounds.items()},
        "layers": [{"name": record.pop("layer"), **{key: _plain(value) for key, value in record.items()}}
                   for record in table.to_dict(orient="records")],
    }


def _plain(value):
    """A JSON-ready number: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def network_flop_reduction(network: Network, on_rates: Mapping[str, float],
                           base_fractions: Mapping[str, float]) -> float:
    """Dense MACs / gated MACs of the whole network; layers without a rate count dense."""
    dense = sum(layer.macs for layer in network)
    gated = sum(layer.macs * (base_fractions[layer.name] + (1 - base_fractions[layer.name])
                              * on_rates[layer.name]) if layer.name in on_rates else layer.macs
                for layer in network)
    return dense / gated
