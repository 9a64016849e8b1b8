"""Wall time of gated runs: per scheduler and image, and against input size.

    python benchmarks/gated_networks.py [--images 2]

Synthetic traces (about 20 % of gates on, all block convs gated, G = 4) drive ResNet-18 at
16×16 OS with the memory model on (default SRAMs and DRAM), every scheduler; then ResNet-20;
then ResNet-18 at 112, 224 and 448 pixels to show that the cost follows the folds, not the
MACs; then ``task-queue`` on a 32×32 array split into 32 slices, and into 64 slices of 16 rows (the
discrete-event engine's heaviest cases), per image once the calibration is done (runs of one image and of ``--images``
after the calibration's two, the fastest of three each; the difference divided by the extra
images). Times are seconds per
scheduler-image (trace reading and planning included).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
from pathlib import Path

from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
from accelsim.schedule import SCHEDULERS
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.workload.networks import resnet18


def time_per_scheduler_image(network, config, images: int, folder: Path) -> tuple[dict, dict]:
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    path = synthesize(folder / f"{network.name}-{network.layers[0].in_h}.npz", network, layers, images,
                      {layer.name: 0.2 for layer in layers}, seed=0)
    seconds, results = {}, {}
    with open_trace(path) as trace:
        for name in SCHEDULERS.names():
            start = time.perf_counter()
            results[name] = run(network, config, [name], trace)
            # the dense baseline runs with every scheduler: time it alone and subtract it
            seconds[name] = (time.perf_counter() - start) / images
        start = time.perf_counter()
        run(network, config, ["dense"], trace)
        dense_alone = (time.perf_counter() - start) / images
    for name in seconds:
        if name != "dense":
            seconds[name] -= dense_alone
    seconds["dense"] = dense_alone
    return seconds, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    args = parser.parse_args()
    config = DEFAULT_CONFIG.replace(array_rows=16, array_cols=16, dataflow="os")
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; 16x16 OS, memory model on; seconds per scheduler-image")
    with tempfile.TemporaryDirectory() as folder:
        for network in (get_network("resnet18"), get_network("resnet20")):
            seconds, _ = time_per_scheduler_image(network, config, args.images, Path(folder))
            print(f"{network.name:10s} " + "  ".join(f"{name} {value:.3f}" for name, value in seconds.items()))
        print(f"{'input':>6} {'MACs':>15} {'folds (pixel-skip)':>19} {'s per scheduler-image (max)':>28}")
        for size in (112, 224, 448):
            network = resnet18(size)
            seconds, results = time_per_scheduler_image(network, config, 1, Path(folder))
            folds = results["pixel-skip"].summary.set_index("scheduler").loc["pixel-skip", "folds"]
            print(f"{size:>6} {network.macs:>15,} {folds:>19,} {max(seconds.values()):>28.3f}")
        slicings = {"32x32 in 32 slices": DEFAULT_CONFIG.replace(array_slices=32),
                    "32x32 in 64 slices of 16 rows": DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16)}
        for (label, sliced), network in itertools.product(slicings.items(),
                                                          (get_network("resnet18"), get_network("resnet20"))):
            layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
            path = synthesize(Path(folder) / f"{network.name}-sliced.npz", network, layers, 2 + args.images,
                              {layer.name: 0.2 for layer in layers}, seed=0)
            with open_trace(path) as trace:
                elapsed = []
                for images in (slice(2, 3), slice(2, 2 + args.images)):
                    times = []
                    for _ in range(3):  # the fastest of three: a difference of two runs is fragile
                        start = time.perf_counter()
                        run(network, sliced, ["task-queue"], trace, images=images, calibration=slice(0, 2))
                        times.append(time.perf_counter() - start)
                    elapsed.append(min(times))
            per_image = (elapsed[1] - elapsed[0]) / max(1, args.images - 1)
            print(f"{network.name:10s} task-queue, {label}: {per_image:.3f} s per image after "
                  f"calibration ({elapsed[0]:.2f} s for the first, calibration included)")


if __name__ == "__main__":
    main()
