"""Wall time of a sweep: plans shared across points against one run per point, and the grid
end to end on local processes.

    python benchmarks/sweep.py [--images 8] [--workers 2]

Over the shipped trace (``traces/resnet20-fmnist.npz``), the 4 × 3 × 2 grid of the README
(array 8x8…64x64 × ifmap SRAM 16/64/256 KiB × dataflow os/ws), every scheduler. First in one
process: ``run_configs`` on the three SRAM sizes of each (array, dataflow), which plans each
fold once, against three separate ``run`` calls; then ``run_sweep`` on a process pool.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from accelsim import DEFAULT_CONFIG, SCHEDULERS, get_network, open_trace, run
from accelsim.cli import DEFAULT_TRACE
from accelsim.simulate import run_configs
from accelsim.sweep import grid, run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    images = slice(0, args.images)
    network = get_network("resnet20-fmnist")
    schedulers = list(SCHEDULERS.names())
    groups = [grid(DEFAULT_CONFIG.replace(array_rows=side, array_cols=side, dataflow=dataflow),
                   {"ifmap_sram_kib": [16.0, 64.0, 256.0]})
              for side in (8, 16, 32, 64) for dataflow in ("os", "ws")]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {DEFAULT_TRACE.name}, "
          f"{args.images} images, {len(schedulers)} schedulers (dense included)")
    shared = separate = 0.0
    with open_trace(DEFAULT_TRACE) as trace:
        for configs in groups:
            start = time.perf_counter()
            run_configs(network, configs, schedulers, trace, images)
            shared += time.perf_counter() - start
            start = time.perf_counter()
            for config in configs:
                run(network, config, schedulers, trace, images)
            separate += time.perf_counter() - start
    points = sum(len(configs) for configs in groups)
    print(f"one process, {points} points: plans shared {shared:.1f} s, one run per point {separate:.1f} s "
          f"({separate / shared:.2f}x)")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_sweep(network, DEFAULT_TRACE, [c for configs in groups for c in configs], out, schedulers, images,
                  workers=args.workers)
        print(f"run_sweep on {args.workers} processes: {time.perf_counter() - start:.1f} s for {points} points")


if __name__ == "__main__":
    main()
