"""Per-layer MAC counts of a (gated) model over a data set: the reduction gating achieves.

A gated layer costs ``dense × (η + (1 − η)·r)``: the base pass always, the rest of the
reduction only for the fraction ``r`` of its decisions that are on. Other layers cost their
dense MACs.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from workloads.gating import CGConv2d


def _dense_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs per image of one conv or linear layer, given its output."""
    per_output = module.weight[0].numel()  # (Cin/groups)·kh·kw, or in_features
    return int(per_output * output[0].numel())


@torch.no_grad()
def layer_macs(model: nn.Module, batches: Iterable[torch.Tensor]) -> list[dict]:
    """One row per conv/linear layer: ``layer``, ``gated``, ``dense_macs`` (per image),
    ``on_rate`` (1 for ungated layers), ``base_fraction`` and ``macs`` (mean per image)."""
    model.eval()
    rows: dict[str, dict] = {}
    hooks = []

    def record(name: str):
        def hook(module, _inputs, output):
            row = rows.setdefault(name, {"layer": name, "gated": isinstance(module, CGConv2d),
                                         "dense_macs": _dense_macs(module, output),
                                         "on": 0, "decisions": 0,
                                         "base_fraction": getattr(module, "base_fraction", 1.0)})
            if row["gated"]:
                on, total = module.last_counts
                row["on"] += on
                row["decisions"] += total
        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(record(name)))
    try:
        for batch in batches:
            model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    result = []
    for row in rows.values():
        rate = row.pop("on") / row["decisions"] if row["gated"] else 1.0
        row.pop("decisions")
        eta = row["base_fraction"]
        result.append({**row, "on_rate": rate, "macs": row["dense_macs"] * (eta + (1 - eta) * rate)})
    return result


def mac_reduction(rows: list[dict]) -> float:
    """Network dense MACs / gated MACs."""
    return sum(row["dense_macs"] for row in rows) / sum(row["macs"] for row in rows)
