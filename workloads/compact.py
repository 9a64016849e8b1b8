"""Compact checkpoints: weights as small integers per output channel, the file xz-compressed.

A ResNet-18's 11 M weights take 45 MB as float32; 8-bit integers with one float32 scale per
output channel, compressed, take 10 MB (6-bit ones, held in int8, 7 MiB). The shipped model *is* the compact one: its
weights are the dequantized integers (``q · scale``, exact in float32 and float64), and its
accuracy, MACs and trace are measured on them, so the trace re-exports bit for bit from the
file. Batch-norm statistics, thresholds and other small tensors stay float32.

A compact checkpoint is the ``torch.save`` dict of an ordinary one with ``state`` replaced by
``state_int8`` (:func:`compact_state`), the whole xz-compressed; :func:`read_checkpoint` reads
either kind.
"""

from __future__ import annotations

import io
import lzma
from pathlib import Path

import torch

#: tensors with fewer elements than this, and those of fewer than two dimensions, stay float32
MIN_QUANTIZED = 4096
XZ_MAGIC = b"\xfd7zXZ\x00"


def compact_state(state: dict[str, torch.Tensor], bits: int = 8) -> dict[str, dict]:
    """Per tensor: ``{"q": int8, "scale": float32 per output channel}`` for conv and linear
    weights, ``{"value": float32}`` for the rest. Symmetric, ``bits`` wide (stored in int8):
    ``scale = max |w| / (2^(bits−1) − 1)``."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits: expected 2 to 8, got {bits}")
    levels = 2 ** (bits - 1) - 1
    packed: dict[str, dict] = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point() and tensor.dim() >= 2 and tensor.numel() >= MIN_QUANTIZED:
            flat = tensor.float().reshape(tensor.shape[0], -1)
            scale = flat.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / levels
            q = torch.round(flat / scale[:, None]).clamp(-levels, levels).to(torch.int8)
            packed[name] = {"q": q.reshape(tensor.shape).contiguous(), "scale": scale.contiguous()}
        else:
            packed[name] = {"value": tensor.float() if tensor.is_floating_point() else tensor}
    return packed


def expand_state(packed: dict[str, dict]) -> dict[str, torch.Tensor]:
    """The float32 state a compact one stands for."""
    state = {}
    for name, entry in packed.items():
        if "q" in entry:
            q, scale = entry["q"], entry["scale"]
            state[name] = (q.float().reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)
        else:
            state[name] = entry["value"]
    return state


def compact_bytes(saved: dict, bits: int = 8) -> bytes:
    """``saved`` (a dict with a float ``state``) as the bytes of a compact checkpoint."""
    body = {key: value for key, value in saved.items() if key != "state"}
    body["state_int8"] = compact_state(saved["state"], bits)
    buffer = io.BytesIO()
    torch.save(body, buffer)
    return lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def read_checkpoint(path: str | Path) -> dict:
    """A ``model.pt`` dict, from an ordinary or a compact checkpoint (its ``state`` expanded)."""
    data = Path(path).read_bytes()
    if data.startswith(XZ_MAGIC):
        data = lzma.decompress(data)
    saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    if "state_int8" in saved:
        saved["state"] = expand_state(saved.pop("state_int8"))
    return saved
