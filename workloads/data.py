"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (no download at run time)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

FASHION_MNIST_DIR = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
#: mean and standard deviation of the training pixels in [0, 1]
MEAN, STD = 0.2860, 0.3530


class DatasetMissing(FileNotFoundError):
    """The Fashion-MNIST files are not on this machine."""


def _read_idx(path: Path, magic: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an IDX file (magic {found:#x}, expected {magic:#x})")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(split: str, root: Path | str = FASHION_MNIST_DIR) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)``: float32 ``(N, 1, 28, 28)`` normalised with :data:`MEAN`/:data:`STD`,
    and int64 labels."""
    pixels, labels = load_pixels(split, root)
    return normalize(pixels), torch.from_numpy(labels.astype(np.int64))


def load_pixels(split: str, root: Path | str = FASHION_MNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``uint8`` pixels ``(N, 28, 28)`` and labels of a split."""
    root = Path(root)
    paths = [root / name for name in FILES[split]]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DatasetMissing(
            f"Fashion-MNIST not found ({', '.join(missing)}). Install the Debian package: "
            "sudo apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR to a folder "
            "holding the four *-ubyte.gz files")
    return _read_idx(paths[0], 0x803), _read_idx(paths[1], 0x801)


def normalize(pixels: np.ndarray) -> torch.Tensor:
    """``uint8`` pixels ``(N, 28, 28)`` → float32 ``(N, 1, 28, 28)`` with :data:`MEAN`/:data:`STD`."""
    images = (np.asarray(pixels, np.uint8).astype(np.float32) / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(images).unsqueeze(1)


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random crop with ``pad`` pixels of zero padding (in normalised units: the background)
    and a random horizontal flip, per image."""
    n, _, h, w = images.shape
    background = -MEAN / STD
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), value=background)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :]
    out = padded[:, 0][torch.arange(n)[:, None, None], rows, cols].unsqueeze(1)
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out
