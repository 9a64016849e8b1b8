"""Wall time per image of the README's headline design point, and its cycles.

    python benchmarks/headline_point.py [--repeat 3] [--costs charged|ideal]

ResNet-18 with synthetic gates (G = 4, 15 % on, 4 images, seed 0) on a 32×32 OS array in 64
slices of 16 rows, tasks of one row tile, 512 KiB per SRAM and 32 B/cycle of DRAM: the
``task-queue`` run of images 2:4 less that of image 2:3 (calibration 0:2 in both), the fastest
of ``--repeat``. The cycles printed are what the timing must keep where the model does not
change.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
from accelsim.trace import as_trace_layer, gateable_layers, synthesize

CONFIG = DEFAULT_CONFIG.replace(array_rows=32, array_cols=32, dataflow="os", array_slices=64, slice_rows=16,
                                task_folds=1, ifmap_sram_kib=512, filter_sram_kib=512, ofmap_sram_kib=512,
                                dram_bandwidth_bytes_per_cycle=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--costs", choices=("charged", "ideal"), default="charged",
                        help="every cost the model has (default), or the idealised model")
    args = parser.parse_args()
    config = CONFIG.replace(costs=args.costs)
    network = get_network("resnet18")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    with tempfile.TemporaryDirectory() as folder:
        path = synthesize(Path(folder) / "r18.npz", network, layers, 4, {layer.name: 0.15 for layer in layers}, seed=0)
        with open_trace(path) as trace:
            def seconds(images: slice) -> tuple[float, object]:
                start = time.perf_counter()
                result = run(network, config, ["task-queue"], trace, images=images, calibration=slice(0, 2))
                return time.perf_counter() - start, result

            per_image = []
            for _ in range(args.repeat):
                one, _ = seconds(slice(2, 3))
                two, result = seconds(slice(2, 4))
                per_image.append(two - one)
    cycles = result.summary.set_index("scheduler")["cycles_total"]
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}")
    print(f"headline point ({args.costs}), task-queue: {min(per_image):.3f} s per image (fastest of {args.repeat}); "
          f"cycles over images 2:4: dense {cycles['dense']:,}, task-queue {cycles['task-queue']:,}")


if __name__ == "__main__":
    main()
