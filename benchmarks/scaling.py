"""How the cost of a simulation grows: with images, input size, array size and depth.

    python benchmarks/scaling.py [--plot benchmarks/scaling.png]

Each row times one ``accelsim.run`` (pixel-skip and the dense baseline, 16×16 OS unless the
array is the variable, memory model on) on a synthetic trace with 20 % of gates on, and
measures its peak Python memory (tracemalloc). Beside the time it prints the MACs simulated,
the cycles, and the runs of identical folds the engine processed: the time follows the runs,
not the MACs or cycles.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from accelsim import DEFAULT_CONFIG, Network, get_network, open_trace, run
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.workload.networks import resnet18


def measure(network: Network, config, images: int, folder: Path) -> dict:
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    path = synthesize(folder / f"{network.name}-{network.layers[0].in_h}-{images}.npz", network, layers,
                      images, {layer.name: 0.2 for layer in layers}, seed=0)
    with open_trace(path) as trace:
        run(network, config, ["pixel-skip"], trace, slice(0, 1))  # warm-up
        start = time.perf_counter()
        result = run(network, config, ["pixel-skip"], trace)
        seconds = time.perf_counter() - start
        tracemalloc.start()  # a second, untimed run: tracing slows Python down
        run(network, config, ["pixel-skip"], trace)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    summary = result.summary.set_index("scheduler")
    return {"seconds": seconds, "peak_mb": peak / 2**20, "macs": int(summary["macs_dense"].sum()),
            "cycles": int(summary["cycles_total"].sum()), "folds": int(summary["folds"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", help="write a PNG of seconds against MACs and folds")
    args = parser.parse_args()
    base = DEFAULT_CONFIG.replace(array_rows=16, array_cols=16)
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; pixel-skip + dense, memory model on")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = [("images", n, get_network("resnet20"), base, n) for n in (1, 4, 16)]
        cases += [("input", size, resnet18(size), base, 1) for size in (112, 224, 448)]
        cases += [("array", side, get_network("resnet18"), base.replace(array_rows=side, array_cols=side), 1)
                  for side in (8, 32, 128)]
        cases += [("depth", name, get_network(name), base, 1) for name in ("resnet20", "vgg16-cifar", "resnet18")]
        print(f"{'variable':>8} {'value':>12} {'MACs':>16} {'cycles':>14} {'folds':>9} {'seconds':>8} {'peak MB':>8}")
        for variable, value, network, config, images in cases:
            row = measure(network, config, images, Path(folder))
            rows.append((variable, value, row))
            print(f"{variable:>8} {str(value):>12} {row['macs']:>16,} {row['cycles']:>14,} {row['folds']:>9,} "
                  f"{row['seconds']:>8.3f} {row['peak_mb']:>8.1f}", flush=True)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        seconds = np.array([row["seconds"] for _, _, row in rows])
        for axis, key, label in ((left, "macs", "MACs simulated"), (right, "folds", "folds simulated")):
            values = np.array([row[key] for _, _, row in rows])
            for variable in dict.fromkeys(v for v, _, _ in rows):
                chosen = [i for i, (v, _, _) in enumerate(rows) if v == variable]
                axis.loglog(values[chosen], seconds[chosen], "o-", label=variable)
            axis.set_xlabel(label)
            axis.set_ylabel("wall time, s")
            axis.grid(True, which="both", alpha=0.3)
        left.set_title("wall time against MACs simulated")
        right.set_title("wall time against folds simulated")
        right.legend(title="varied")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
