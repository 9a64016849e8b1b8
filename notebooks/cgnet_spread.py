"""The CGNet study with every cost charged, as a spread: gates × memory × design, one CSV row each.

    python notebooks/cgnet_spread.py [--workers 2] [--only real|synthetic|TRACE [--again]] [--out notebooks/cgnet_spread.csv]

Gates: synthetic ResNet-18 (224×224) traces at 2.0×, 2.8× and 3.2× fewer MACs, seeds 0–4, with
the structure fitted to the shipped ResNet-20 trace (as ``cgnet_headline.ipynb``), 4 images
(0:2 calibrate, 2:4 measured); the shipped real traces (``traces/``), images 0:16 calibrate and
16:32 are measured. Memory: 64 KiB per SRAM at 16 B/cycle (the default), 512 KiB at 32 B/cycle.
Designs: one array (dense, pixel-skip, balanced), and task-queue with tasks of one row tile on
the 32 × 32 array in slices of 32 × 8 … 32 × 1 and 16 × 4 … 16 × 1 (a slice of w columns is w
one-column slices sharing one input bus), each with the ifmap and filter SRAMs in the banks
their slices need (``banks = demand``), in half as many (``half``), or in ports of 128 bits.

Each row: the design's task-queue (or one array's best scheduler) against dense on the same
hardware, dense on one array of the same memory, area, energy and lost cycles by cause. The
file is appended to as points finish and a point already in it is not run again, so an
interrupted study keeps what it did and resumes.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REDUCTIONS = (2.0, 2.8, 3.2)
SEEDS = (0, 1, 2, 3, 4)
REAL = ("resnet18-fmnist", "resnet20-fmnist")
MEMORIES = ("64 KiB, 16 B/cycle", "512 KiB, 32 B/cycle")
#: (slices, slice_rows) of the 32 × 32 array: 32 × 8, 32 × 4, 32 × 2, 32 × 1, 16 × 4, 16 × 2, 16 × 1
SHAPES = ((4, 0), (8, 0), (16, 0), (32, 0), (16, 16), (32, 16), (64, 16))
PORTS = ("demand", "half", "128-bit")
ONE_ARRAY = ("dense", "pixel-skip", "balanced")
LOST = ("lost_fill_drain", "lost_partial_tiles", "lost_group_boundary", "lost_granularity", "lost_gated_idle",
        "lost_imbalance", "lost_sram", "lost_stall")
COLUMNS = ("gates", "reduction", "seed", "memory", "design", "slices", "slice_rows", "slice_shape", "ports",
           "ifmap_banks", "filter_banks", "scheduler", "speedup_vs_dense", "speedup_vs_one_array",
           "flop_reduction", "energy_per_image_uj", "dense_energy_uj", "one_array_dense_energy_uj",
           "energy_vs_dense", "energy_vs_one_array", "area_mm2", "area_vs_one_array", "cycles_total", *LOST,
           "input_bytes_per_cycle")


@dataclass(frozen=True)
class Point:
    gates: str  #: ``synthetic`` or a shipped trace's name
    reduction: float  #: the synthetic trace's MAC reduction (0 for a real trace)
    seed: int
    memory: str
    slices: int  #: 1: one array
    slice_rows: int
    ports: str

    @property
    def key(self) -> tuple[str, ...]:
        return (self.gates, f"{self.reduction:g}", str(self.seed), self.memory, str(self.slices),
                str(self.slice_rows), self.ports)


def points(only: str | None) -> list[Point]:
    gates = [("synthetic", reduction, seed) for reduction in REDUCTIONS for seed in SEEDS]
    gates += [(name, 0.0, 0) for name in REAL]
    found = []
    for name, reduction, seed in gates:
        if only == "real" and name == "synthetic" or only == "synthetic" and name != "synthetic" \
                or only in REAL and name != only:
            continue
        for memory in MEMORIES:
            found.append(Point(name, reduction, seed, memory, 1, 0, "demand"))
            found += [Point(name, reduction, seed, memory, slices, rows, ports)
                      for slices, rows in SHAPES for ports in PORTS]
    return found


def memory_config(memory: str):
    from accelsim import DEFAULT_CONFIG

    if memory == MEMORIES[0]:
        return DEFAULT_CONFIG
    return DEFAULT_CONFIG.replace(ifmap_sram_kib=512.0, filter_sram_kib=512.0, ofmap_sram_kib=512.0,
                                  dram_bandwidth_bytes_per_cycle=32.0)


def design_config(point: Point):
    from accelsim.arch.memory import sram_banks

    base = memory_config(point.memory)
    if point.slices == 1:
        return base
    config = base.replace(array_slices=point.slices, slice_rows=point.slice_rows, task_folds=1)
    if point.ports == "half":
        banks = sram_banks(config)
        config = config.replace(ifmap_sram_banks=max(1, banks["ifmap"] // 2), filter_sram_banks=max(1, banks["filter"] // 2))
    elif point.ports == "128-bit":
        config = config.replace(sram_port_bits=128)
    return config


_TRACES: dict = {}
_ONE_ARRAY: dict = {}  #: one array's summary per gates and memory, run once per process


def gates_of(point: Point):
    """The point's network, trace, measured and calibration images (traces made once per process)."""
    import accelsim
    from accelsim.cli import DEFAULT_TRACE
    from accelsim.trace import as_trace_layer, gateable_layers, synthesize
    from accelsim.trace.synth import SynthKnobs, uniform_rate_for_reduction

    key = (point.gates, point.reduction, point.seed)
    if key not in _TRACES:
        if point.gates == "synthetic":
            network = accelsim.get_network("resnet18")
            gated = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
            rate = uniform_rate_for_reduction(network, gated, point.reduction)
            knobs = SynthKnobs(length_scale=0.105, global_share=0.0, group_share=0.05, noise_share=0.15,
                               channel_bias_std=0.28, image_std=0.0)
            path = synthesize(Path(tempfile.mkdtemp()) / "r18.npz", network, gated, 4,
                              {layer.name: rate for layer in gated}, knobs, seed=point.seed)
            trace = accelsim.open_trace(path)
            _TRACES[key] = (network, trace, slice(2, 4), slice(0, 2))
        else:
            trace = accelsim.open_trace(DEFAULT_TRACE.with_name(f"{point.gates}.npz"))
            _TRACES[key] = (accelsim.get_network(trace.info.network), trace, slice(16, 32), slice(0, 16))
    return _TRACES[key]


def measure(point: Point) -> list[dict]:
    """The point's rows: one per scheduler compared (task-queue on slices; one array's best)."""
    import accelsim
    from accelsim.arch.memory import sram_banks
    from accelsim.energy.area import area_table

    network, trace, images, calibration = gates_of(point)
    key = (point.gates, point.reduction, point.seed, point.memory)
    if key not in _ONE_ARRAY:
        _ONE_ARRAY[key] = accelsim.run(network, memory_config(point.memory), list(ONE_ARRAY), trace, images=images,
                                       calibration=calibration).summary.set_index("scheduler")
    one = _ONE_ARRAY[key]
    config = design_config(point)
    if point.slices == 1:
        summary = one
        best = summary.drop(index="dense")["speedup_vs_dense"].idxmax()
    else:
        summary = accelsim.run(network, config, ["task-queue"], trace, images=images,
                               calibration=calibration).summary.set_index("scheduler")
        best = "task-queue"
    row, dense = summary.loc[best], summary.loc["dense"]
    banks = sram_banks(config)
    energy, one_dense = row["energy_per_image_uj"], one.loc["dense", "energy_per_image_uj"]
    rows_, cols = config.rows_per_slice, config.slice_cols
    return [{
        "gates": point.gates, "reduction": point.reduction, "seed": point.seed, "memory": point.memory,
        "design": "one array" if point.slices == 1 else f"P = {point.slices}, {rows_}x{cols} slices",
        "slices": point.slices, "slice_rows": point.slice_rows, "slice_shape": f"{rows_}x{cols}", "ports": point.ports,
        "ifmap_banks": banks["ifmap"], "filter_banks": banks["filter"], "scheduler": best,
        "speedup_vs_dense": row["speedup_vs_dense"],
        "speedup_vs_one_array": one.loc["dense", "cycles_total"] / row["cycles_total"],
        "flop_reduction": row["flop_reduction"], "energy_per_image_uj": energy,
        "dense_energy_uj": dense["energy_per_image_uj"], "one_array_dense_energy_uj": one_dense,
        "energy_vs_dense": energy / dense["energy_per_image_uj"], "energy_vs_one_array": energy / one_dense,
        "area_mm2": area_table(config).total_mm2, "area_vs_one_array": row["area_vs_one_array"],
        "cycles_total": row["cycles_total"], **{lost: row[lost] for lost in LOST},
        "input_bytes_per_cycle": row["input_bytes_per_cycle"],
    }]


def key_of(row: dict) -> tuple[str, ...]:
    """A row's point, as :attr:`Point.key`."""
    return (row["gates"], f"{float(row['reduction']):g}", row["seed"], row["memory"], row["slices"],
            row["slice_rows"], row["ports"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=("real", "synthetic", *REAL), default=None,
                        help="only the real traces, the synthetic ones, or one shipped trace")
    parser.add_argument("--out", type=Path, default=HERE / "cgnet_spread.csv")
    parser.add_argument("--again", action="store_true",
                        help="run the chosen points again (their rows are dropped first, the others kept); "
                             "to resume an interrupted --again run, run without --again")
    args = parser.parse_args()
    chosen = {point.key for point in points(args.only)}
    rows = []
    if args.out.exists():
        with args.out.open() as handle:
            rows = list(csv.DictReader(handle))
    if args.again and rows:  # keep the other points' rows, written whole before anything runs
        rows = [row for row in rows if key_of(row) not in chosen]
        with tempfile.NamedTemporaryFile("w", newline="", dir=args.out.parent, delete=False) as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(handle.name, args.out)
    done = {key_of(row) for row in rows}
    todo = [point for point in points(args.only) if point.key not in done]
    print(f"{len(todo)} point(s) to run, {len(done)} already in {args.out}")
    fresh = not args.out.exists() or args.out.stat().st_size == 0
    with args.out.open("a", newline="") as handle, ProcessPoolExecutor(args.workers) as pool:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if fresh:
            writer.writeheader()
            handle.flush()
        futures = {pool.submit(measure, point): point for point in todo}
        for number, future in enumerate(as_completed(futures), 1):
            point = futures[future]
            for row in future.result():
                writer.writerow(row)
            handle.flush()
            print(f"{number}/{len(todo)} {point}", flush=True)


if __name__ == "__main__":
    main()
