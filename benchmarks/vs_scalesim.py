"""The same topology and config in SCALE-Sim and in accelsim, in one process: cycles and time.

    pip install -e '.[bench]'        # SCALE-Sim 3.0.0 and the numpy it runs with
    python benchmarks/vs_scalesim.py --quick
    python benchmarks/vs_scalesim.py                     # torchvision ResNet-18, 20 convs
    python benchmarks/vs_scalesim.py --array 16x16 --dataflow ws

Writes a SCALE-Sim config (CALC bandwidth: stall-free) and, per layer, a one-layer topology;
times SCALE-Sim's ``run_scale`` on it and accelsim's ``run`` (scalesim timing convention) on the
same files, and prints per layer both ``Total Cycles`` (they must be equal), both wall times
and their ratio. SCALE-Sim writes its per-cycle traces to a temporary folder, removed after
each layer.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from accelsim import get_network, load_scalesim_config, load_topology, run
from accelsim.config import parse_array

CONFIG = """[general]
run_name = bench

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {sram}
FilterSramSzkB:   {sram}
OfmapSramSzkB:    {sram}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {dataflow}
Bandwidth : 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
QUICK_LAYERS = ("layer4.0.downsample.0", "fc")


def topology_row(layer) -> str:
    """A layer as SCALE-Sim writes it: the IFMAP pre-padded to exactly what the output needs."""
    height = (layer.out_h - 1) * layer.stride + layer.kernel_h
    width = (layer.out_w - 1) * layer.stride + layer.kernel_w
    return (f"{layer.name}, {height}, {width}, {layer.kernel_h}, {layer.kernel_w}, "
            f"{layer.in_channels}, {layer.out_channels}, {layer.stride},\n")


def run_scalesim(config: Path, topology: Path, scratch: Path) -> tuple[int, float]:
    from scalesim.scale_sim import scalesim

    (scratch / "layout.csv").write_text("Layer name,\n")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        simulator = scalesim(save_disk_space=True, verbose=False, config=str(config),
                             topology=str(topology), layout=str(scratch / "layout.csv"))
        simulator.run_scale(top_path=str(scratch))
    seconds = time.perf_counter() - start
    report = pd.read_csv(scratch / "bench" / "COMPUTE_REPORT.csv", skipinitialspace=True)
    shutil.rmtree(scratch / "bench")
    return int(report["Total Cycles"].iloc[0]), seconds


def run_accelsim(config: Path, topology: Path) -> tuple[int, float]:
    start = time.perf_counter()
    hardware, _ = load_scalesim_config(config)
    layers = run(load_topology(topology), hardware.replace(timing="scalesim")).layers
    return int(layers["cycles_total"].iloc[0]), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_LAYERS)}")
    parser.add_argument("--array", default="32x32")
    parser.add_argument("--dataflow", default="os")
    parser.add_argument("--sram-kb", type=int, default=64)
    args = parser.parse_args()
    try:
        import scalesim  # noqa: F401
    except ImportError:
        print("SCALE-Sim is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    rows, cols = parse_array(args.array)
    network = get_network("resnet18")
    layers = [layer for layer in network if layer.kind == "conv" or args.quick]
    if args.quick:
        layers = [network.layer(name) for name in QUICK_LAYERS]
    print(f"resnet18, {args.array} {args.dataflow.upper()}, {args.sram_kb} kB SRAMs, stall-free; "
          f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{'layer':>22} {'SCALE-Sim cycles':>17} {'accelsim cycles':>16} {'equal':>6} "
          f"{'SCALE-Sim s':>12} {'accelsim s':>11} {'ratio':>9}", flush=True)
    totals = [0, 0, 0.0, 0.0]
    all_equal = True
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        config = scratch / "bench.cfg"
        config.write_text(CONFIG.format(rows=rows, cols=cols, sram=args.sram_kb, dataflow=args.dataflow))
        for layer in layers:
            if layer.kind == "fc":
                row = f"{layer.name}, 1, 1, 1, 1, {layer.in_channels}, {layer.out_channels}, 1,\n"
            else:
                row = topology_row(layer)
            topology = scratch / "layer.csv"
            topology.write_text(HEADER + row)
            theirs, their_time = run_scalesim(config, topology, scratch)
            ours, our_time = run_accelsim(config, topology)
            equal = theirs == ours
            all_equal &= equal
            for index, value in enumerate((theirs, ours, their_time, our_time)):
                totals[index] += value
            print(f"{layer.name:>22} {theirs:>17,} {ours:>16,} {str(equal):>6} {their_time:>12.2f} "
                  f"{our_time:>11.4f} {their_time / our_time:>8.0f}x", flush=True)
    print(f"{'total':>22} {totals[0]:>17,} {totals[1]:>16,} {str(all_equal):>6} {totals[2]:>12.2f} "
          f"{totals[3]:>11.4f} {totals[2] / totals[3]:>8.0f}x")
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
