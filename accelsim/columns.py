"""The columns of the result tables, written once: name, unit and meaning of each, in order.

``layers`` (one row per layer, image and scheduler) and ``summary`` (one row per scheduler)
are built from :data:`LAYERS` and :data:`SUMMARY`, whose energy columns come from the energy
account's components. The tables of ``docs/results.md`` and ``docs/energy.md`` are generated
from them (``python -m accelsim.columns docs/results.md docs/energy.md``), and a test fails
when a file and this module disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

from accelsim.energy.account import COMPONENTS


class Column(NamedTuple):
    name: str
    unit: str  #: ``—`` for names and labels
    meaning: str


#: the energy account's columns, one per component of :data:`accelsim.energy.account.COMPONENTS`
ENERGY = (*(Column(component.column, "pJ", component.meaning) for component in COMPONENTS),
          Column("energy_total_pj", "pJ", f"the sum of the {len(COMPONENTS)} above"))


LAYERS: tuple[Column, ...] = (
    Column('network', '—', "the network's name"),
    Column('layer', '—', "the layer's name (a gated layer's is the trace's)"),
    Column('image', '—', "the image's index in the trace (0 without a trace); in a batch, the batch's first image"),
    Column('batch', 'images', 'images run together, their pixels stacked along `M` (1 unless the run was batched)'),
    Column('scheduler', '—', 'the conditional-path scheduler (`dense`: no gating)'),
    Column('path', '—', "how the layer ran: `dense`; `two-pass` (base pass, then the scheduler's conditional folds); `one-pass` (dense folds, off outputs clock-gated after their decision)"),
    Column('dataflow', '—', '`os`, `ws` or `is`'),
    Column('timing', '—', 'cycle-counting convention: `pipelined`, `physical` or `scalesim` ([docs/timing.md](timing.md))'),
    Column('array_rows', 'PEs', 'R, C'),
    Column('array_cols', 'PEs', 'R, C'),
    Column('M', '—', "rows of the layer's GEMM: its output pixels (of the whole batch)"),
    Column('N', '—', 'columns: filters (output channels)'),
    Column('K', '—', 'reduction per output: input channels per group × kernel height × width'),
    Column('groups', '—', "the convolution's channel groups (1: an ordinary convolution)"),
    Column('gate_on_rate', 'fraction', "share of the layer's decisions that are on (empty: ungated)"),
    Column('folds', 'folds', 'array mappings executed, both passes together'),
    Column('macs_dense', 'MACs', "M·N·K: the layer's work without gating"),
    Column('macs_needed', 'MACs', 'the work the gates leave: the base pass and the conditional MACs of outputs that are on (= `macs_dense` when ungated or `dense`)'),
    Column('macs_granular', 'MACs', "`macs_needed` rounded up to whole (pixel, channel set) cells at this array's channel-set width (= `macs_needed` when ungated)"),
    Column('macs_executed', 'MACs', 'MACs done on real operands: `macs_needed`, plus in one pass the conditional MACs of off outputs streamed before their decision takes effect'),
    Column('start_cycle', 'cycles', "when the layer started, from the start of its image; layers run back to back, so it is the previous layer's `start_cycle + cycles_total`"),
    Column('cycles_compute', 'cycles', "the array busy with the layer's folds"),
    Column('cycles_stall', 'cycles', 'the array waiting for operands: for DRAM, or streaming slower than its folds need because its share of the SRAM ports is short (`cycles_sram` of them)'),
    Column('cycles_sram', 'cycles', "of `cycles_stall`, what the SRAM ports alone cost: the layer on the same machine with an ideal DRAM, less `cycles_compute` (0 where the SRAMs have 0 banks)"),
    Column('cycles_total', 'cycles', '`cycles_compute + cycles_stall`'),
    Column('cycles_ideal', 'cycles', '`macs_needed / (R·C)`: every PE busy with needed work'),
    Column('lost_fill_drain', 'cycles', "loading, skew and draining beyond the stream (2R + C − 2 per fold under `physical`; under `pipelined` a short fold's padding to R and one fill and drain per sequence of folds), and the gate latency between two passes"),
    Column('lost_partial_tiles', 'cycles', 'PEs without work in folds smaller than the array (edge tiles)'),
    Column('lost_group_boundary', 'cycles', "PEs without work because a fold's channels must lie in one gate group"),
    Column('lost_granularity', 'cycles', "PEs of off outputs that share a pixel and a channel set with an output that is on: no fold-based schedule at this width leaves them out (the trace's limit)"),
    Column('lost_gated_idle', 'cycles', "the other PEs of off outputs in folds that run (clock-gated, or in one pass running before their decision): the scheduler's loss"),
    Column('lost_imbalance', 'cycles', "on a sliced array (`array_slices` > 1), PEs of slices waiting for the slowest slice, or idling until a task they took may start (its set's decisions, an ofmap half) (0 on one array)"),
    Column('lost_sram', 'cycles', '= `cycles_sram`: streams stretched to what the SRAM ports deliver'),
    Column('lost_stall', 'cycles', '= `cycles_stall − cycles_sram`: waiting for DRAM'),
    Column('pe_utilization', 'fraction', '`macs_executed / (cycles_total · R·C)`'),
    Column('mapping_efficiency', 'fraction', "PEs holding real work, summed over folds, / (`folds` · the PEs a fold occupies: R·C, or one slice's on a sliced plan)"),
    Column('held_back_by', '—', "`dram` where the layer waits for DRAM more than half its cycles (`lost_stall`), else `sram` where its streams, slowed by the SRAM ports, cost more than half (`lost_sram`), else `mapping` where its folds hold real work in less than half their PEs (`mapping_efficiency` < 0.5: e.g. depthwise or FC layers), else `none`"),
    Column('flop_reduction', '×', '`macs_dense / macs_needed`: the speedup the gates promise'),
    Column('granularity_bound', '×', '`macs_dense / macs_granular`: what a schedule of pixels × channel sets reaches at best when nothing else is lost'),
    Column('speedup_vs_dense', '×', "dense `cycles_total` / this row's, same layer and image, same hardware"),
    Column('realized_fraction', '×', '`speedup_vs_dense / flop_reduction`'),
    Column('latency_us', 'µs', '`cycles_total / clock_mhz`'),
    Column('dram_read_bytes', 'bytes', 'read from DRAM: operands, and spilled partial sums read back'),
    Column('dram_write_bytes', 'bytes', 'written to DRAM: the output feature map, and spilled partial sums'),
    Column('ifmap_sram_read_bytes', 'bytes', 'input tiles read from the ifmap SRAM into the array'),
    Column('ifmap_sram_write_bytes', 'bytes', 'fills of the ifmap SRAM from DRAM'),
    Column('filter_sram_read_bytes', 'bytes', 'weight tiles read from the filter SRAM into the array'),
    Column('filter_sram_write_bytes', 'bytes', 'fills of the filter SRAM from DRAM'),
    Column('ofmap_sram_read_bytes', 'bytes', 'partial sums read back to be added onto (at accumulator width)'),
    Column('ofmap_sram_write_bytes', 'bytes', 'results leaving the array (at accumulator width)'),
    Column('decision_sram_bytes', 'bytes', 'decision bits written by the gate unit and read by the scheduler (0 when ungated)'),
    Column('pe_hop_bits', 'bits', 'operand and partial-sum bits moved from PE to PE'),
    Column('gate_compares', 'compares', 'threshold compares of the gate unit, one per output of a gated layer'),
    Column('crossbar_bytes', 'bytes', "input operands read from the ifmap SRAM's banks into the slices through the crossbar: `ifmap_sram_read_bytes` when `array_slices` > 1, else 0 ([docs/architecture.md](architecture.md))"),
    Column('network_bytes', 'bytes', "on a sliced array, what the weight and output networks carry between the slices and the filter and ofmap SRAMs: `filter_sram_read_bytes + ofmap_sram_read_bytes + ofmap_sram_write_bytes` when `array_slices` > 1, else 0 ([docs/energy.md](energy.md))"),
    Column('tasks', 'tasks', "tasks handed to the slices through the task queue (0 on one array and on layers run across the slices as one array)"),
    *ENERGY,
)

SUMMARY: tuple[Column, ...] = (
    Column('network', '—', 'as in `layers.csv`'),
    Column('scheduler', '—', 'as in `layers.csv`'),
    Column('dataflow', '—', 'as in `layers.csv`'),
    Column('timing', '—', 'as in `layers.csv`'),
    Column('array_rows', 'PEs', 'as in `layers.csv`'),
    Column('array_cols', 'PEs', 'as in `layers.csv`'),
    Column('images', 'images', 'images simulated'),
    Column('batch', 'images', 'images run together (1 unless the run was batched)'),
    Column('layers', 'layers', 'layers of the network'),
    Column('folds', 'folds', 'sum over layers and images'),
    Column('macs_dense', 'MACs', 'sum over layers and images'),
    Column('macs_needed', 'MACs', 'sum over layers and images'),
    Column('macs_granular', 'MACs', 'sum over layers and images'),
    Column('macs_executed', 'MACs', 'sum over layers and images'),
    Column('cycles_compute', 'cycles', 'sum over layers and images'),
    Column('cycles_stall', 'cycles', 'sum over layers and images'),
    Column('cycles_sram', 'cycles', 'sum over layers and images'),
    Column('cycles_total', 'cycles', 'sum over layers and images'),
    Column('cycles_ideal', 'cycles', 'sum over layers and images'),
    Column('lost_fill_drain', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_partial_tiles', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_group_boundary', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_granularity', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_gated_idle', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_imbalance', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_sram', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('lost_stall', 'cycles', 'sum; with `cycles_ideal` the eight `lost_*` add up to `cycles_total`'),
    Column('pe_utilization', 'fraction', '`macs_executed / (cycles_total · R·C)`'),
    Column('mapping_efficiency', 'fraction', "over all folds: PEs holding real work / PEs the folds occupy (R·C each, or one slice's on a sliced plan)"),
    Column('flop_reduction', '×', '`macs_dense / macs_needed`'),
    Column('granularity_bound', '×', '`macs_dense / macs_granular`'),
    Column('speedup_vs_dense', '×', "dense `cycles_total` / this scheduler's"),
    Column('realized_fraction', '×', '`speedup_vs_dense / flop_reduction`'),
    Column('latency_ms', 'ms', 'latency of one image (of one batch when batched) over the network, mean over images'),
    Column('latency_p50_ms', 'ms', 'median over images of that latency'),
    Column('latency_p95_ms', 'ms', '95th percentile over images of that latency'),
    Column('images_per_second', 'images/s', 'throughput: `batch / latency_ms` × 1000'),
    Column('dram_read_bytes', 'bytes', '`dram_read_bytes` of `layers.csv`, summed'),
    Column('dram_write_bytes', 'bytes', '`dram_write_bytes` of `layers.csv`, summed'),
    Column('ifmap_sram_read_bytes', 'bytes', '`ifmap_sram_read_bytes` of `layers.csv`, summed'),
    Column('ifmap_sram_write_bytes', 'bytes', '`ifmap_sram_write_bytes` of `layers.csv`, summed'),
    Column('filter_sram_read_bytes', 'bytes', '`filter_sram_read_bytes` of `layers.csv`, summed'),
    Column('filter_sram_write_bytes', 'bytes', '`filter_sram_write_bytes` of `layers.csv`, summed'),
    Column('ofmap_sram_read_bytes', 'bytes', '`ofmap_sram_read_bytes` of `layers.csv`, summed'),
    Column('ofmap_sram_write_bytes', 'bytes', '`ofmap_sram_write_bytes` of `layers.csv`, summed'),
    Column('decision_sram_bytes', 'bytes', '`decision_sram_bytes` of `layers.csv`, summed'),
    Column('crossbar_bytes', 'bytes', 'sum'),
    Column('network_bytes', 'bytes', 'sum'),
    Column('tasks', 'tasks', 'sum'),
    Column('input_bytes_per_cycle', 'bytes/cycle', "`ifmap_sram_read_bytes / cycles_total`: the input bandwidth the ifmap SRAM's ports must supply"),
    *(Column(column.name, "pJ", f"`{column.name}` of `layers.csv`, summed") for column in ENERGY),
    Column('energy_per_image_uj', 'µJ', '`energy_total_pj` / `images` / 10⁶'),
    Column('energy_saving_vs_dense', 'fraction', "1 − `energy_per_image_uj` / dense's"),
    Column('edp_uj_cycles', 'µJ·cycles', 'energy-delay product: `energy_per_image_uj` × `cycles_total` / `images`'),
    Column('area_mm2', 'mm²', 'the design\'s area: PE array, SRAMs by capacity and banks, crossbar and networks, controllers, queue, gate unit (`accelsim energy-table` lists them with sources; wires are not charged area)'),
    Column('area_vs_one_array', 'ratio', '`area_mm2` / the area of the same design on one array (`array_slices` = 1, its SRAMs banked for one array)'),
    Column('speedup_per_area', 'ratio', '`speedup_vs_dense` / `area_vs_one_array`: the speedup each unit of area buys, against dense on one array of the same area'),
)

def _energy_table() -> str:
    rows = [f"| `{component.column}` | {component.priced} |" for component in COMPONENTS]
    return "\n".join(["| column | counter × action |", "|---|---|", *rows])


#: the tables generated into the docs, by the name their marks give
TABLES = {"layers": lambda: markdown(LAYERS), "summary": lambda: markdown(SUMMARY), "energy": _energy_table}
#: the marks around a generated table in a Markdown file: ``<!-- columns: layers -->`` … ``<!-- end columns -->``
BEGIN, END = "<!-- columns: {} -->", "<!-- end columns -->"


def markdown(columns: tuple[Column, ...]) -> str:
    """A Markdown table of ``columns``."""
    rows = [f"| `{column.name}` | {column.unit} | {column.meaning} |" for column in columns]
    return "\n".join(["| column | unit | meaning |", "|---|---|---|", *rows])


def render(text: str) -> str:
    """``text`` with every table between marks generated afresh (a file may hold any of them)."""
    for name, table in TABLES.items():
        begin = BEGIN.format(name)
        if begin not in text:
            continue
        start = text.index(begin) + len(begin)
        end = text.index(END, start)
        text = f"{text[:start]}\n{table()}\n{text[end:]}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Regenerate the tables of the Markdown files named on the command line."""
    for path in map(Path, sys.argv[1:] if argv is None else argv):
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
