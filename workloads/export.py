"""Export the gate decisions of a trained PyTorch model as an accelsim gate trace.

**The export protocol.** Any module of the model that has a ``gate_decision`` method is a
gated layer. It must provide:

* ``gate_decision(x) -> Tensor``: the decisions ``d`` for the module's input ``x``, shape
  ``(N, out_channels, out_h, out_w)``, bool or 0/1, computed by the same code the module's
  forward pass uses (a mathematically equal expression can flip a decision where float32
  rounds onto the threshold);
* ``in_channels``, ``out_channels``, ``kernel_size``, ``stride``, ``padding``: as on
  ``torch.nn.Conv2d`` (an int or a pair each; ``padding`` per side);
* ``gate_groups`` (int): G, the channel groups of the base path (input group *i* feeds output
  group *i*); ``base_fraction`` (float): η, the share of input channels on the base path,
  ``1/G`` for grouped gating;
* optionally ``base_layout``: ``"grouped"`` (the default when absent: the layout above) or
  ``"shared"`` (every output's base path is the first η·Cin input channels, with
  ``gate_groups`` 1 and η = 1/p);
* optionally ``thresholds``: one value per output channel, recorded in the manifest.

A forward hook on each such module calls ``gate_decision`` on the module's own input in
eval mode, so the trace holds exactly the decisions of the model's forward pass. Layers are
named by their module path (``layer2.0.conv1``), matching accelsim's network shapes.

**Reproducible on any CPU.** The export runs a float64 copy of the model. float32 kernels
differ from CPU to CPU in their order of summation, and partial sums that land within float32
rounding of a threshold flip between machines; in float64 the kernels differ by about 1e-13
relative, far below the smallest distance of a shipped partial sum from its threshold (see
``docs/workloads.md``), so the same checkpoint and inputs give the same bits everywhere.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsim.errors import TraceError
from accelsim.sweep_store import file_digest
from accelsim.trace.format import BASE_LAYOUTS, TraceInfo, TraceLayer
from accelsim.trace.writer import TraceWriter, pack_masks

REQUIRED = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "gate_groups",
            "base_fraction")


#: The precision every export computes in: float64, so decisions do not depend on a CPU's
#: float32 kernels.
EXPORT_DTYPE = torch.float64


class ExportError(ValueError):
    """A model or module that does not satisfy the export protocol."""


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def gated_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that satisfy the protocol, in definition order (checked)."""
    found = []
    for name, module in model.named_modules():
        if not callable(getattr(module, "gate_decision", None)):
            continue
        missing = [attribute for attribute in REQUIRED if not hasattr(module, attribute)]
        if missing:
            raise ExportError(f"module {name!r} has gate_decision but lacks {', '.join(missing)}")
        if isinstance(module.padding, str):
            raise ExportError(f"module {name!r}: padding {module.padding!r}; expected numbers per side")
        found.append((name, module))
    if not found:
        raise ExportError("the model has no module with a gate_decision method (see the export protocol)")
    return found


def _trace_layer(name: str, module: nn.Module, x: torch.Tensor, decisions: torch.Tensor) -> TraceLayer:
    kernel_h, kernel_w = _pair(module.kernel_size)
    stride_h, stride_w = _pair(module.stride)
    if stride_h != stride_w:
        raise ExportError(f"module {name!r}: stride {module.stride}; accelsim traces need equal strides")
    padding_h, padding_w = _pair(module.padding)
    thresholds = getattr(module, "thresholds", None)
    if thresholds is not None:
        thresholds = tuple(float(value) for value in torch.as_tensor(thresholds).flatten())
    base_layout = getattr(module, "base_layout", "grouped")
    if base_layout not in BASE_LAYOUTS:
        raise ExportError(f"module {name!r}: base_layout {base_layout!r}; expected one of "
                          f"{', '.join(BASE_LAYOUTS)}")
    return TraceLayer(name=name, in_channels=int(module.in_channels), out_channels=int(module.out_channels),
                      in_h=int(x.shape[2]), in_w=int(x.shape[3]), kernel_h=kernel_h, kernel_w=kernel_w,
                      stride=stride_h, padding_h=padding_h, padding_w=padding_w,
                      out_h=int(decisions.shape[2]), out_w=int(decisions.shape[3]),
                      gate_groups=int(module.gate_groups), base_fraction=float(module.base_fraction),
                      thresholds=thresholds, base_layout=base_layout)


def float64_copy(model: nn.Module) -> nn.Module:
    """An eval-mode float64 copy of ``model``: the one every export runs."""
    return copy.deepcopy(model).to(EXPORT_DTYPE).eval()


@torch.no_grad()
def capture_decisions(model: nn.Module, images: torch.Tensor, batch_size: int = 64
                      ) -> tuple[dict[str, TraceLayer], dict[str, np.ndarray]]:
    """Run ``images`` through a float64 copy of ``model`` in eval mode; per gated layer, its
    geometry and its packed decisions ``(images, bytes per image)``."""
    model = float64_copy(model)
    images = images.to(EXPORT_DTYPE)
    modules = gated_modules(model)
    layers: dict[str, TraceLayer] = {}
    packed: dict[str, list[np.ndarray]] = {name: [] for name, _ in modules}

    def hook_for(name: str):
        def hook(module, inputs, _output):
            x = inputs[0]
            decisions = module.gate_decision(x)
            expected = (x.shape[0], int(module.out_channels))
            if decisions.dim() != 4 or tuple(decisions.shape[:2]) != expected:
                raise ExportError(f"module {name!r}: gate_decision gave shape {tuple(decisions.shape)}; "
                                  f"expected ({expected[0]}, {expected[1]}, out_h, out_w)")
            layer = _trace_layer(name, module, x, decisions)
            if layers.setdefault(name, layer) != layer:
                raise ExportError(f"module {name!r}: its shape changed between batches")
            packed[name].append(pack_masks(decisions.cpu().numpy().astype(bool)))
        return hook

    hooks = [module.register_forward_hook(hook_for(name)) for name, module in modules]
    try:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size])
    finally:
        for hook in hooks:
            hook.remove()
    missing = [name for name, chunks in packed.items() if not chunks]
    if missing:
        raise ExportError(f"gated modules never called in forward: {', '.join(missing)}")
    return layers, {name: np.concatenate(chunks) for name, chunks in packed.items()}


def export_trace(model: nn.Module, images: torch.Tensor, path: str | Path, *, model_name: str,
                 dataset: str, accuracy: float | None = None, network: str | None = None,
                 provenance: Mapping[str, Any] | None = None, batch_size: int = 64,
                 compress: bool = False) -> Path:
    """Write the decisions of ``model`` on ``images`` (N, C, H, W) to the trace ``path``;
    ``accuracy`` is a fraction in [0, 1]; ``compress`` deflates the members (a large trace)."""
    layers, packed = capture_decisions(model, images, batch_size)
    info = TraceInfo(model=model_name, dataset=dataset, images=len(images), accuracy=accuracy,
                     network=network, provenance=dict(provenance or {}))
    with TraceWriter(path, info, list(layers.values()), compress) as writer:
        for name, bits in packed.items():
            writer.add_packed(name, bits)
    return Path(path)


def export_checkpoint(checkpoint: str | Path, out: str | Path, images: int = 256,
                      pixels: np.ndarray | None = None, labels: np.ndarray | None = None,
                      compress: bool = False) -> Path:
    """Export a ``workloads.train`` model's decisions on Fashion-MNIST test images 0 to
    ``images − 1`` (or on the given ``uint8`` ``pixels``, ``(N, 28, 28)``, and their
    ``labels``), with its recipe, accuracy and per-layer MACs as provenance."""
    from workloads.data import load_pixels, normalize
    from workloads.train import load_model

    model, meta = load_model(checkpoint)
    if pixels is None:
        pixels, labels = load_pixels("test")
        if not 0 < images <= len(pixels):
            raise ExportError(f"--images {images}: expected 1 to {len(pixels)}")
        pixels, labels = pixels[:images], labels[:images]
    x = normalize(pixels)
    with torch.no_grad():  # in the precision of the decisions, so they too reproduce on any CPU
        exact = float64_copy(model)
        predictions = torch.cat([exact(x[i:i + 256].to(EXPORT_DTYPE)).argmax(1) for i in range(0, len(x), 256)])
    provenance = {
        "checkpoint": Path(checkpoint).name, "checkpoint_sha256": file_digest(checkpoint),
        "recipe": meta["recipe"], "stage": meta.get("stage"), "torch": meta["torch"],
        "train_seconds": meta["train_seconds"], "train_threads": meta["threads"],
        "mac_reduction_test_set": meta["mac_reduction"],
        "dense_twin_accuracy": meta.get("dense_twin_accuracy"),
        "images": f"Fashion-MNIST test images 0 to {len(x) - 1}",
        "inputs_sha256": hashlib.sha256(np.ascontiguousarray(pixels, np.uint8).tobytes()).hexdigest(),
        "labels": [int(v) for v in labels], "predictions": [int(v) for v in predictions],
    }
    model_name = meta["recipe"].get("model_name", "resnet20")
    return export_trace(model, x, out, model_name=f"cg-{model_name}-{meta['recipe']['variant']}",
                        dataset="fashion-mnist", accuracy=meta["test_accuracy"] / 100,
                        network=f"{model_name}-fmnist", provenance=provenance, compress=compress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.export",
                                     description="Export a trained model's gate decisions as a trace.")
    parser.add_argument("checkpoint", type=Path, help="model.pt written by workloads.train")
    parser.add_argument("--images", type=int, default=256, help="first N test images (default 256)")
    parser.add_argument("--out", type=Path, required=True, help="trace file to write (.npz)")
    parser.add_argument("--compress", action="store_true", help="deflate the trace's members (a large trace)")
    args = parser.parse_args(argv)
    try:
        path = export_checkpoint(args.checkpoint, args.out, args.images, compress=args.compress)
    except (ExportError, TraceError, OSError, KeyError, ValueError) as error:
        message = str(error)
        if not message.startswith(str(args.checkpoint)):
            message = f"{args.checkpoint}: {message}"
        print(f"python -m workloads.export: {message}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
