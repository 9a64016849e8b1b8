"""Wall time of a dense network run for each array size and dataflow.

    python benchmarks/dense_networks.py [--network resnet18] [--repeat 5]

Prints, per (array, dataflow), the median and best wall time of ``accelsim.run`` over
``--repeat`` runs (after one warm-up), the folds simulated and the total cycles.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from accelsim import DEFAULT_CONFIG, get_network, run

ARRAYS = (16, 32, 128)
DATAFLOWS = ("os", "ws", "is")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    network = get_network(args.network)
    print(f"{args.network}, dense, {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}")
    print(f"{'array':>8} {'dataflow':>8} {'folds':>8} {'cycles':>12} {'median s':>9} {'best s':>8}")
    for size in ARRAYS:
        for dataflow in DATAFLOWS:
            config = DEFAULT_CONFIG.replace(array_rows=size, array_cols=size, dataflow=dataflow)
            run(network, config)  # warm-up
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = run(network, config)
                times.append(time.perf_counter() - start)
            total = result.summary.iloc[0]
            array = f"{size}x{size}"
            print(f"{array:>8} {dataflow:>8} {total['folds']:>8,} {total['cycles_total']:>12,} "
                  f"{statistics.median(times):>9.4f} {min(times):>8.4f}")


if __name__ == "__main__":
    main()
