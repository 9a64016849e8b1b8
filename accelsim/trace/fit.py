"""Fitting the synthetic generator's knobs to a real trace.

The real trace's per-layer on-rates are used as they are; the structural knobs
(:data:`~accelsim.trace.synth.FITTED_KNOBS`, shared by all layers) are found by coordinate
search, minimising the squared differences between the real and the synthetic statistics
(:data:`FIT_STATISTICS`) of up to :data:`FIT_LAYERS` layers and :data:`FIT_IMAGES` images.
The synthetic images are drawn from fixed seeds during the search, so the objective is
deterministic and the fit is repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from accelsim.trace.format import TraceLayer
from accelsim.trace.reader import GateTrace
from accelsim.trace.stats import STATISTICS, mask_statistics
from accelsim.trace.synth import LayerGenerator, SynthKnobs

FIT_STATISTICS = ("on_rate_image_std", "channel_rate_std", "morans_i", "corr_within_groups",
                  "corr_across_groups", "no_channel_pixel_fraction", "channels_off_fraction")
FIT_LAYERS = 6
FIT_IMAGES = 16
ROUNDS = 3

#: candidate moves per knob: (multiplicative factors, additive steps, bounds)
_MOVES = {
    "length_scale": ((0.5, 0.7, 1.4, 2.0), (), (0.0, 0.5)),
    "global_share": ((), (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2), (0.0, 1.0)),
    "group_share": ((), (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2), (0.0, 1.0)),
    "noise_share": ((), (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2), (0.0, 1.0)),
    "channel_bias_std": ((0.5, 0.7, 1.4, 2.0), (-0.1, 0.1), (0.0, 5.0)),
    "image_std": ((0.5, 0.7, 1.4, 2.0), (-0.1, 0.1), (0.0, 5.0)),
}


def _sample_layers(layers: Sequence[TraceLayer]) -> list[int]:
    if len(layers) <= FIT_LAYERS:
        return list(range(len(layers)))
    return sorted({round(i) for i in np.linspace(0, len(layers) - 1, FIT_LAYERS)})


def _synthetic_statistics(layers: Sequence[TraceLayer], indices: Sequence[int], rates: Sequence[float],
                          knobs: SynthKnobs, images: int) -> np.ndarray:
    rows = []
    for index in indices:
        generator = LayerGenerator(layers[index], rates[index], knobs, seed=12345, layer_index=index,
                                   images=images)
        stats = mask_statistics(layers[index], [generator.masks(0, images)])
        rows.append([stats[name] for name in FIT_STATISTICS])
    return np.array(rows)


def _loss(synthetic: np.ndarray, real: np.ndarray) -> float:
    difference = np.nan_to_num(synthetic - real)  # a statistic undefined on both sides costs nothing
    return float((difference ** 2).sum())


def _candidates(knobs: SynthKnobs, name: str) -> list[SynthKnobs]:
    factors, steps, (low, high) = _MOVES[name]
    current = getattr(knobs, name)
    values = {current * factor for factor in factors} | {current + step for step in steps}
    if current == 0:
        values |= {0.05, 0.1}
    result = []
    for value in sorted(values):
        value = float(min(high, max(low, value)))
        if value == current:
            continue
        try:
            result.append(replace(knobs, **{name: value}))
        except ValueError:  # shares summing past 1
            continue
    return result


def fit_knobs(trace: GateTrace, start: SynthKnobs = SynthKnobs(), progress=None
              ) -> tuple[SynthKnobs, dict[str, float]]:
    """Knobs whose synthetic statistics best match ``trace``'s, and its per-layer on-rates.

    ``progress``, if given, is called with the loss after each round.
    """
    layers = list(trace.layers)
    indices = _sample_layers(layers)
    images = min(trace.images, FIT_IMAGES)
    real_rows, rates = [], []
    for layer in layers:
        on = sum(int(masks.sum()) for _, masks in trace.iter_chunks(layer.name))
        rates.append(on / (trace.images * layer.decisions_per_image))
    for index in indices:
        stats = mask_statistics(layers[index], [trace.read(layers[index].name, slice(0, images))])
        real_rows.append([stats[name] for name in FIT_STATISTICS])
    real = np.array(real_rows)

    knobs = start
    best = _loss(_synthetic_statistics(layers, indices, rates, knobs, images), real)
    for _ in range(ROUNDS):
        for name in _MOVES:
            for candidate in _candidates(knobs, name):
                loss = _loss(_synthetic_statistics(layers, indices, rates, candidate, images), real)
                if loss < best:
                    knobs, best = candidate, loss
        if progress is not None:
            progress(best)
    return knobs, {layer.name: rate for layer, rate in zip(layers, rates)}


def compare_statistics(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Side by side, per statistic: the mean over layers of the real and the synthetic values
    and their difference."""
    rows = [{"statistic": name, "real": real[name].mean(), "synthetic": synthetic[name].mean(),
             "difference": synthetic[name].mean() - real[name].mean()} for name in STATISTICS]
    rows.append({"statistic": "flop_reduction (mean of layers)", "real": real["flop_reduction"].mean(),
                 "synthetic": synthetic["flop_reduction"].mean(),
                 "difference": synthetic["flop_reduction"].mean() - real["flop_reduction"].mean()})
    return pd.DataFrame(rows)
