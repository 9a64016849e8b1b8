"""Write and re-read a gate trace of ResNet-18 (all 16 block convs gated), and its size.

    python benchmarks/trace_io.py [--images 64]

Prints the wall time of writing the trace from in-memory masks, of reading every layer back,
and of generating the same trace synthetically, and compares the file size with the bit-packed
size of the decisions (1,505,280 decisions ≈ 188 KB per 224×224 image).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from accelsim import get_network
from accelsim.trace import (TraceInfo, as_trace_layer, gateable_layers, open_trace, synthesize,
                            write_trace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    network = get_network("resnet18")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    decisions = sum(layer.decisions_per_image for layer in layers)
    rng = np.random.default_rng(0)
    masks = {layer.name: rng.random((args.images, *layer.mask_shape)) < 0.2 for layer in layers}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resnet18.npz"
        start = time.perf_counter()
        write_trace(path, TraceInfo("benchmark", "random", args.images, network="resnet18"), layers, masks)
        written = time.perf_counter() - start
        start = time.perf_counter()
        with open_trace(path) as trace:
            total = sum(int(trace.read(name).sum()) for name in trace.layer_names)
        read = time.perf_counter() - start
        size = path.stat().st_size
        start = time.perf_counter()
        synthesize(Path(folder) / "synth.npz", network, layers, args.images,
                   {layer.name: 0.2 for layer in layers})
        synthesized = time.perf_counter() - start
    packed = args.images * sum(layer.bytes_per_image for layer in layers)
    print(f"resnet18, {len(layers)} gated layers, {args.images} images, "
          f"{decisions:,} decisions per image ({total:,} on)")
    print(f"write {written:.2f} s, read back {read:.2f} s, together {written + read:.2f} s")
    print(f"file {size:,} bytes = {size / packed:.4f} x the bit-packed size ({packed:,} bytes, "
          f"{packed / args.images / 1000:.1f} kB per image)")
    print(f"synthesise the same trace: {synthesized:.2f} s")


if __name__ == "__main__":
    main()
