"""Cycles and stalls of task-queue ResNet-18 on a grid of sliced designs: a fingerprint of the timing.

    python benchmarks/sliced_cycles.py > after.txt

One line per design (dataflow, slices, slice rows, DRAM bytes/cycle, KiB per SRAM, task folds):
the total and stall cycles of image 2 of a synthetic ResNet-18 trace (G = 4, 15 % on, seed 1,
calibration 0:2), dense and task-queue layers together, on a 32×32 array. Run it on two commits
(the older one with ``PYTHONPATH`` pointing at its checkout) and ``diff`` the outputs: a
change that should leave the model alone must leave every line alone.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
from accelsim.trace import as_trace_layer, gateable_layers, synthesize

#: (slices, slice rows) pairs: 4 slices of 32 rows, 32 of 32 or of 16 rows, 64 of 16 rows
SLICES = ((4, 0), (32, 0), (32, 16), (64, 16))


def main() -> None:
    network = get_network("resnet18")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    with tempfile.TemporaryDirectory() as folder:
        path = synthesize(Path(folder) / "r18.npz", network, layers, 3, {layer.name: 0.15 for layer in layers},
                          seed=1)
        with open_trace(path) as trace:
            for flow, (slices, rows), bandwidth, kib, folds in itertools.product(
                    ("os", "ws", "is"), SLICES, (16, 32), (64, 512), (0, 1)):
                config = DEFAULT_CONFIG.replace(
                    array_rows=32, array_cols=32, dataflow=flow, array_slices=slices, slice_rows=rows,
                    task_folds=folds, ifmap_sram_kib=kib, filter_sram_kib=kib, ofmap_sram_kib=kib,
                    dram_bandwidth_bytes_per_cycle=bandwidth)
                result = run(network, config, ["task-queue"], trace, images=slice(2, 3), calibration=slice(0, 2))
                print(flow, slices, rows, bandwidth, kib, folds, int(result.layers["cycles_total"].sum()),
                      int(result.layers["cycles_stall"].sum()), flush=True)


if __name__ == "__main__":
    main()
