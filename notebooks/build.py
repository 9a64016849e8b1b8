"""Write the notebooks of this folder from the cells below, and optionally execute them.

    python notebooks/build.py            # write the .ipynb files (no outputs)
    python notebooks/build.py --execute  # write them, run each top to bottom, keep the outputs

The cells live here, as plain text, so a change to a study is a readable diff; the committed
notebooks carry their outputs. ``tests/test_notebooks.py`` checks that they match this file and
executes every one of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 600

SETUP = """\
%matplotlib inline
import pandas as pd
import accelsim
from accelsim.cli import DEFAULT_TRACE
pd.set_option("display.width", 160, "display.max_columns", 30, "display.precision", 3)"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "quickstart": [
        ("md", """\
# Quickstart: a real gate trace on the default accelerator

The shipped trace holds the gate decisions of a channel-gated ResNet-20 trained on
Fashion-MNIST (`traces/README.md` gives its provenance). This notebook does what
`accelsim run` does with no arguments: every scheduler and the dense baseline on the default
hardware configuration."""),
        ("code", SETUP),
        ("code", """\
trace = accelsim.open_trace(DEFAULT_TRACE)
print(trace.info.model, trace.info.dataset, f"{trace.images} images, accuracy {trace.info.accuracy:.2%}")
print(accelsim.dumps_config(accelsim.DEFAULT_CONFIG))"""),
        ("code", """\
network = accelsim.get_network(trace.info.network)
result = accelsim.run(network, accelsim.DEFAULT_CONFIG, list(accelsim.SCHEDULERS), trace, images=slice(0, 32))
result.summary[["scheduler", "cycles_total", "latency_ms", "flop_reduction", "speedup_vs_dense",
                "realized_fraction", "energy_per_image_uj", "energy_saving_vs_dense"]]"""),
        ("md", """\
`flop_reduction` is what the gates promise (dense MACs / needed MACs); `speedup_vs_dense` is what
the array delivers; `realized_fraction` their ratio; `granularity_bound` the best any fold-based
schedule could reach at this array's channel-set width. On this network a gate group holds 4 to
16 channels for 32 columns, so skipping pixels for a whole column tile saves little (the bound is
about 1.1×), and every skipping scheduler falls back, layer by layer, to the one-pass path:
dense cycles, with off outputs clock-gated for energy. The per-layer table has one row per
(layer, image, scheduler); its `path` column says how each layer ran."""),
        ("code", """\
layers = result.layers
layers[layers["image"] == 0].pivot_table(index="layer", columns="scheduler", values="path", aggfunc="first",
                                         sort=False)"""),
        ("code", """\
small = accelsim.run(network, accelsim.DEFAULT_CONFIG.replace(array_rows=4, array_cols=4, dataflow="ws"),
                     list(accelsim.SCHEDULERS), trace, images=slice(16, 32), calibration=slice(0, 16))
small.summary[["scheduler", "speedup_vs_dense", "flop_reduction", "granularity_bound", "energy_saving_vs_dense"]]"""),
        ("md", """\
On a 4×4 weight-stationary array a channel set is one gate group of 4 channels, close to the
trace's granularity: there the skipping schedulers run most layers in two passes and beat dense
(calibrated on images 0–15, tested on 16–31)."""),
        ("code", """\
from accelsim.plots import speedup_figure
speedup_figure(result.summary);"""),
    ],
    "sweep": [
        ("md", """\
# Array and buffer sweep over the shipped trace

A 4 × 3 × 2 grid (array size × ifmap SRAM × dataflow) over the first 8 images of the shipped
trace, run on two local processes and written point by point (a killed sweep resumes with
`resume=True`). The same grid on the command line:

```sh
accelsim sweep traces/resnet20-fmnist.npz --array 8x8,16x16,32x32,64x64 --ifmap-kb 16,64,256 \\
    --dataflow os,ws --scheduler all --images 0:8 --out sweep
accelsim plot sweep --out sweep-figures
```"""),
        ("code", SETUP + """
import tempfile
from accelsim.sweep import grid, run_sweep
from accelsim.plots import heatmap_figure, sweep_speedup_figure"""),
        ("code", """\
configs = [config
           for rows in (8, 16, 32, 64)
           for config in grid(accelsim.DEFAULT_CONFIG.replace(array_rows=rows, array_cols=rows),
                              {"ifmap_sram_kib": [16.0, 64.0, 256.0], "dataflow": ["os", "ws"]})]
network = accelsim.get_network("resnet20-fmnist")
out = tempfile.mkdtemp(prefix="sweep-")
result = run_sweep(network, DEFAULT_TRACE, configs, out, list(accelsim.SCHEDULERS), images=slice(0, 8))
print(len(configs), "points,", len(result.layers), "layer rows,", len(result.summary), "summary rows")"""),
        ("code", """\
again = run_sweep(network, DEFAULT_TRACE, configs, out, list(accelsim.SCHEDULERS), images=slice(0, 8), resume=True)
assert again.summary.equals(result.summary)  # every point was already on disk
best = result.summary[result.summary["scheduler"] != "dense"].sort_values("speedup_vs_dense", ascending=False)
best[["scheduler", "array_rows", "dataflow", "ifmap_sram_kib", "speedup_vs_dense", "pe_utilization",
      "cycles_stall"]].head(8)"""),
        ("code", "sweep_speedup_figure(result.summary);"),
        ("code", "heatmap_figure(result.summary, \"speedup_vs_dense\");"),
        ("code", "heatmap_figure(result.summary, \"pe_utilization\");"),
    ],
    "attribution": [
        ("md", """\
# Why speedup lags the FLOP reduction

Every cycle of a run is either ideal work (needed MACs / PEs) or a named loss: fill and drain,
partial tiles, columns lost at gate-group boundaries, off outputs that share a pixel and a
channel set with an output that is on (the trace's granularity: no fold-based schedule avoids
them), the other off outputs inside folds that run (the scheduler's loss), and DRAM stalls. The parts add up exactly to the total (checked below), so the
gap between the FLOP reduction and the speedup is accounted for cycle by cycle."""),
        ("code", SETUP + """
from accelsim.plots import attribution_figure
from accelsim.report import LOST_COLUMNS"""),
        ("code", """\
trace = accelsim.open_trace(DEFAULT_TRACE)
network = accelsim.get_network(trace.info.network)
configs = {"32x32 OS": accelsim.DEFAULT_CONFIG,
           "8x8 WS": accelsim.DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dataflow="ws")}
results = {name: accelsim.run(network, config, list(accelsim.SCHEDULERS), trace, images=slice(0, 16))
           for name, config in configs.items()}
for name, result in results.items():
    summary = result.summary
    assert (summary["cycles_ideal"] + summary[list(LOST_COLUMNS)].sum(axis=1) - summary["cycles_total"]).abs().max() < 1e-6
    shares = summary[["cycles_ideal", *LOST_COLUMNS]].div(summary["cycles_total"], axis=0)
    print(name)
    print(pd.concat([summary[["scheduler", "speedup_vs_dense", "flop_reduction"]], shares.round(3)], axis=1).to_string(index=False))"""),
        ("code", "attribution_figure(results[\"32x32 OS\"].summary);"),
        ("code", "attribution_figure(results[\"8x8 WS\"].summary);"),
        ("md", """\
Which layers lose most? Per layer (mean over images) for pixel-skip on the 8×8 WS array, with
the path each layer took: the early layers have 16 channels, so a gate group (4 channels) fills
half of the array's columns in two passes; where that costs more than it saves, the layer runs in
one pass at dense's cycles."""),
        ("code", """\
layers = results["8x8 WS"].layers
chosen = layers[layers["scheduler"] == "pixel-skip"]
per_layer = chosen.groupby("layer", sort=False)[["cycles_total", "cycles_ideal", *LOST_COLUMNS, "speedup_vs_dense"]].mean()
per_layer.round(1).assign(path=chosen.groupby("layer", sort=False)["path"].first())"""),
    ],
    "energy_sensitivity": [
        ("md", """\
# Energy saving and the DRAM : MAC energy ratio

How much energy gating saves depends on what a DRAM access costs against a MAC. We scale the
DRAM energy per bit (the `dram_bit` entry of the energy table, overridable in a config's
`[energy]` table) from a tenth to ten times the profile's value and watch each scheduler's saving
against dense on the same hardware."""),
        ("code", SETUP + """
import matplotlib.pyplot as plt
from accelsim.energy.table import energy_table"""),
        ("code", """\
trace = accelsim.open_trace(DEFAULT_TRACE)
network = accelsim.get_network(trace.info.network)
base = accelsim.DEFAULT_CONFIG
table = energy_table(base)
dram_bit, mac = table["dram_bit"], table["mac"]
rows = []
for factor in (0.1, 0.3, 1.0, 3.0, 10.0):
    config = base.replace(energy_overrides={"dram_bit": dram_bit * factor})
    summary = accelsim.run(network, config, list(accelsim.SCHEDULERS), trace, images=slice(0, 8)).summary
    ratio = dram_bit * factor * 8 * config.word_bytes / mac  # one operand word from DRAM : one MAC
    for row in summary.itertuples():
        rows.append({"dram_to_mac": ratio, "scheduler": row.scheduler, "saving": row.energy_saving_vs_dense,
                     "dram_share": row.energy_dram_pj / row.energy_total_pj})
study = pd.DataFrame(rows)
study.pivot_table(index="dram_to_mac", columns="scheduler", values="saving", sort=False).round(3)"""),
        ("code", """\
figure, axis = plt.subplots(figsize=(7, 4))
for name, part in study[study["scheduler"] != "dense"].groupby("scheduler", sort=False):
    axis.plot(part["dram_to_mac"], part["saving"] * 100, marker="o", label=name)
axis.set_xscale("log")
axis.set_xlabel("DRAM energy per operand word / energy per MAC")
axis.set_ylabel("energy saving vs dense, %")
axis.axhline(0, color="grey", linewidth=0.8)
axis.legend(fontsize=8)
axis.set_title("Energy saving against the DRAM : MAC energy ratio");"""),
        ("md", """\
When DRAM dominates, the saving follows the traffic gating removes or adds (partial sums that
leave the array between the passes, decision bits); when MACs dominate, it follows the MACs
skipped."""),
    ],
    "resnet18_headline": [
        ("md", """\
# The CGNet ResNet-18 headline, reproduced with stated assumptions

The CGNet papers report, for a quantized ResNet-18 on ImageNet on their ASIC at batch 1, an
average speedup of 2.4× (NeurIPS 2019) / 2.3× (MICRO 2019) against a theoretical FLOP
reduction of 2.8×: 82–86 % of the reduction became speedup. Array size, dataflow, buffers and
per-layer figures are not public, so every one of these is an assumption here:

* **workload**: accelsim's `resnet18` (224×224, 1.81 G MACs), the 16 block 3×3 convs gated
  with 4 gate groups (η = 1/4), stem, downsample convs and FC dense;
* **gates**: a *synthetic* trace (no trained ImageNet model ships with accelsim) whose
  per-layer on-rate is uniform and set for a 2.8× network MAC reduction, with spatially smooth,
  group-correlated maps (the default `SynthKnobs`); 4 images;
* **hardware**: 16×16 PEs, output stationary, pipelined folds (double-buffered: fill and drain
  overlap), 64 KiB per SRAM, 16 B/cycle DRAM, 8-bit operands (the default config, with the
  array changed); and the same with unbounded DRAM bandwidth;
* **schedulers**: every one, each skipping scheduler choosing per layer between its two-pass
  plan and the one-pass path from the first two images (calibration) and tested on the other
  two."""),
        ("code", SETUP + """
import tempfile
from pathlib import Path
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.trace.synth import uniform_rate_for_reduction
from accelsim.plots import attribution_figure"""),
        ("code", """\
network = accelsim.get_network("resnet18")
gated = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
rate = uniform_rate_for_reduction(network, gated, 2.8)
path = synthesize(Path(tempfile.mkdtemp()) / "r18.npz", network, gated, 4, {layer.name: rate for layer in gated}, seed=0)
print(f"{len(gated)} gated layers, on-rate {rate:.3f} for a 2.8x MAC reduction")"""),
        ("code", """\
trace = accelsim.open_trace(path)
base = accelsim.DEFAULT_CONFIG.replace(array_rows=16, array_cols=16, dataflow="os")
configs = {"16x16 OS, 16 B/cycle": base,
           "16x16 OS, unbounded DRAM": base.replace(dram_bandwidth_bytes_per_cycle=float("inf"))}
summaries = []
for name, config in configs.items():
    summary = accelsim.run(network, config, list(accelsim.SCHEDULERS), trace, images=slice(2, 4),
                           calibration=slice(0, 2)).summary
    summaries.append(summary.assign(config=name))
headline = pd.concat(summaries)[["config", "scheduler", "flop_reduction", "granularity_bound", "speedup_vs_dense",
                                 "realized_fraction"]]
headline.assign(published_speedup="2.3-2.4x", published_realized="82-86 %")"""),
        ("code", "attribution_figure(summaries[0]);"),
        ("code", """\
from accelsim.report import LOST_COLUMNS
for summary in summaries:
    row = summary.set_index("scheduler").loc["pixel-skip"]
    losses = (row[list(LOST_COLUMNS)] / row["cycles_total"]).sort_values(ascending=False)
    print(f"{row['config']}: pixel-skip realizes {row['realized_fraction']:.0%} of the FLOP reduction "
          f"(published: 82-86 %); largest losses: " + ", ".join(f"{k} {v:.0%}" for k, v in losses.head(3).items()))"""),
        ("md", """\
`granularity_bound` is the ceiling of any schedule that runs pixels × channel sets of 16
channels: the rest of the gap to 2.8× is the granularity itself, which only hardware that
dispatches narrower work (the CGNet accelerator's task queue, a sliced array) removes. The
published figure came from such hardware; the loss columns say which part of this model's gap a
better packing scheduler, a different array or more bandwidth must recover, per layer in
`result.layers`."""),
    ],
    "cgnet_headline": [
        ("md", """\
# A CGNet-class accelerator: a sliced array fed from a task queue

The CGNet accelerator turns a 2.8× MAC reduction on ResNet-18 (ImageNet, batch 1) into 2.3–2.4×.
Schedulers that skip pixels × channel sets on one array cannot: a fold must run a pixel if any
channel of its set is on there (`granularity_bound`). This study splits the 32×32 array into
P column slices (P ≤ 32), or for P = 64 into two bands of 16 rows each split into
one-column slices (`slice_rows = 16`), each slice with its own input port, and feeds the gated
layers' work to whichever slice can take it from a task queue (`task-queue`,
`docs/architecture.md`). What it costs is
charged: every slice streams its own inputs (the ifmap SRAM's read bandwidth, `input_bytes_per_cycle`,
and the crossbar traffic) from SRAMs banked for those streams (CACTI's banked macros in energy
and area), tasks that wait for DRAM stall, dispatch, task generation and queue refill take
cycles, and the controllers and queue cost energy and area (`docs/energy.md`). The last section
runs the study as a spread over seeds, MAC reductions, slice shapes and ports.

Every assumption, written down:

* **workload**: accelsim's `resnet18` (224×224), the 16 block 3×3 convs gated with 4 gate groups
  (η = 1/4); stem, downsample convs and FC dense; batch 1;
* **gates**: a *synthetic* trace at a uniform on-rate set for a 2.8× network MAC reduction, with
  the structural knobs fitted to the shipped real ResNet-20 trace (`traces/README.md`:
  length_scale 0.105, global_share 0, group_share 0.05, noise_share 0.15, channel_bias_std 0.28,
  image_std 0) — channels nearly independent within a group, as in the real trace; 4 images, the
  first two calibrate each scheduler's per-layer choice, the last two are measured;
* **hardware**: 32×32 PEs, output stationary, pipelined folds, gate latency 2 cycles, 8-bit
  operands; memory either the default (64 KiB per SRAM, 16 B/cycle DRAM) or 512 KiB per SRAM
  with 32 B/cycle; task queue of 16 entries, longest task first; a conditional task per channel
  set (`task_folds = 0`, the default) or per row tile of its active pixels (`task_folds = 1`:
  better balance, but a slice fetches the set's weights again for every task when the filters do
  not fit half the filter SRAM); pixel windows whose partial sums fit half the ofmap SRAM where
  that moves fewer DRAM bytes than spilling them (weight-stationary slices stall more: their
  short folds wait for operands fetched one fold ahead — change `dataflow` to see);
* **queue order**: a set's conditional tasks follow, in the queue, the base task of the set two
  rounds of the slices later, and start once their own set's decisions are there; a window's
  conditional tasks run beside the next window's base tasks;
* **memory**: operands that stay on chip and outputs stream with the folds (bandwidth, no
  latency), other operands are fetched one fold ahead;
* **what is not modelled**: splitting pixels of a dense layer across slices (dense layers run
  ganged), a layer starting before the previous one's last outputs are written, a layer's
  outputs kept on chip as the next layer's inputs, and more than one task waiting on a slice
  behind the fold it runs (a slice takes its next task when its last fold starts)."""),
        ("code", SETUP + """
from pathlib import Path
import tempfile
import matplotlib.pyplot as plt
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.trace.synth import SynthKnobs, uniform_rate_for_reduction"""),
        ("code", """\
network = accelsim.get_network("resnet18")
gated = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
rate = uniform_rate_for_reduction(network, gated, 2.8)
knobs = SynthKnobs(length_scale=0.105, global_share=0.0, group_share=0.05, noise_share=0.15,
                   channel_bias_std=0.28, image_std=0.0)
path = synthesize(Path(tempfile.mkdtemp()) / "r18.npz", network, gated, 4,
                  {layer.name: rate for layer in gated}, knobs, seed=0)
trace = accelsim.open_trace(path)
memories = {"64 KiB, 16 B/cycle": accelsim.DEFAULT_CONFIG,
            "512 KiB, 32 B/cycle": accelsim.DEFAULT_CONFIG.replace(
                ifmap_sram_kib=512.0, filter_sram_kib=512.0, ofmap_sram_kib=512.0,
                dram_bandwidth_bytes_per_cycle=32.0)}
setups = {("64 KiB, 16 B/cycle", "os"), ("512 KiB, 32 B/cycle", "os")}
COLUMNS = ["memory", "dataflow", "slices", "slice_rows", "task_folds", "scheduler", "speedup_vs_dense", "realized_fraction", "latency_ms",
           "energy_per_image_uj", "energy_saving_vs_dense", "input_bytes_per_cycle", "lost_imbalance",
           "lost_stall", "cycles_total"]

results = {}  # each study's result, by what it ran: a point asked for twice runs once
layer_tables = {}  # per-layer tables of each study, by config

def study(network, trace, config, schedulers, images, calibration, **labels):
    key = (network.name, id(trace), config, tuple(schedulers), images.start, images.stop,
           calibration.start, calibration.stop)
    if key not in results:
        results[key] = accelsim.run(network, config, schedulers, trace, images=images, calibration=calibration)
    layer_tables[config] = results[key].layers
    summary = results[key].summary
    return summary.assign(slices=config.array_slices, slice_rows=config.slice_rows, task_folds=config.task_folds,
                          **labels)

SLICINGS = ((2, 0), (4, 0), (8, 0), (16, 0), (32, 0), (64, 16))  # (P, rows of a slice; 0: all 32)

rows = []
for memory, dataflow in sorted(setups):
    config = memories[memory].replace(dataflow=dataflow)
    # the other schedulers run the slices ganged, as one array: they are measured once, at P = 1
    rows.append(study(network, trace, config, list(accelsim.SCHEDULERS), slice(2, 4), slice(0, 2), memory=memory))
    for slices, height in SLICINGS:
        for folds in (0, 1):  # one conditional task per channel set, or per row tile of its active pixels
            rows.append(study(network, trace, config.replace(array_slices=slices, slice_rows=height, task_folds=folds),
                              ["task-queue"], slice(2, 4), slice(0, 2), memory=memory))
r18 = pd.concat(rows, ignore_index=True)[COLUMNS]  # dense runs at every P: its energy changes with P
r18"""),
        ("code", """\
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
for (memory, dataflow, folds), group in r18[(r18["scheduler"] == "task-queue") & (r18["slices"] > 1)].groupby(
        ["memory", "dataflow", "task_folds"], sort=True):
    label = f"{dataflow.upper()}, {memory}, " + ("a task per set" if folds == 0 else f"tasks of {folds} tile")
    axes[0].plot(group["slices"], group["speedup_vs_dense"], marker="o", label=label)
    axes[1].plot(group["slices"], group["energy_per_image_uj"], marker="o", label=label)
    axes[2].plot(group["slices"], group["input_bytes_per_cycle"], marker="o", label=label)
    dense = r18[(r18["memory"] == memory) & (r18["dataflow"] == dataflow) & (r18["scheduler"] == "dense")
                & (r18["slices"] > 1) & (r18["task_folds"] == folds)]
    axes[1].plot(dense["slices"], dense["energy_per_image_uj"], linestyle=":", color=axes[1].lines[-1].get_color())
axes[0].axhspan(2.3, 2.4, color="0.85", label="CGNet accelerator, 2.3-2.4x")
for ax, label in zip(axes, ("speedup vs dense, same hardware (x)", "energy per image, uJ (dotted: dense)",
                            "ifmap SRAM read bandwidth (B/cycle)")):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("array slices P (32x32 array; P = 64: 16-row slices)")
    ax.set_ylabel(label)
axes[0].set_ylim(bottom=0)
axes[0].legend(fontsize=8)
fig.suptitle("ResNet-18, synthetic gates at 2.8x fewer MACs: task-queue against P");"""),
        ("code", """\
tq, dense = r18[r18["scheduler"] == "task-queue"], r18[r18["scheduler"] == "dense"]
index = ["dataflow", "memory", "task_folds"]
display(pd.concat({"task-queue speedup by P": tq.pivot_table(index=index, columns="slices", values="speedup_vs_dense"),
                   "energy per image, uJ": tq.pivot_table(index=index, columns="slices", values="energy_per_image_uj"),
                   "stall share": tq.assign(share=tq["lost_stall"] / tq["cycles_total"]).pivot_table(
                       index=index, columns="slices", values="share")}, axis=1).round(2))
dense.pivot_table(index=["dataflow", "memory"], columns="slices", values="energy_per_image_uj").round(2)  # dense, uJ"""),
        ("code", """\
r18[r18["scheduler"].isin(["dense", "pixel-skip", "balanced-oracle"]) & (r18["slices"] == 1)][
    ["dataflow", "memory", "scheduler", "speedup_vs_dense", "latency_ms", "energy_per_image_uj"]]"""),
        ("code", """\
# queue depth, dispatch policy and task size at the best point
best = r18[r18["scheduler"] == "task-queue"].sort_values("speedup_vs_dense").iloc[-1]
config = memories[best["memory"]].replace(dataflow=best["dataflow"], array_slices=int(best["slices"]),
                                         slice_rows=int(best["slice_rows"]))
rows = [study(network, trace, config.replace(queue_depth_tasks=depth, dispatch=policy, task_folds=folds),
              ["task-queue"], slice(2, 4), slice(0, 2), depth=depth, policy=policy)
        for folds, depth, policy in ((0, 1, "in-order"), (0, 16, "in-order"), (0, 16, "longest-first"),
                                     (1, 16, "in-order"), (1, 16, "longest-first"))]
queue = pd.concat(rows, ignore_index=True)
queue = queue[queue["scheduler"] == "task-queue"][["dataflow", "slices", "slice_rows", "task_folds", "depth", "policy",
                                                   "speedup_vs_dense", "lost_imbalance", "cycles_total"]]
queue"""),
        ("code", """\
# where the time goes: 32-row slices (P = 32) and 16-row slices (P = 64) on the large memory, at twice and
# at unbounded DRAM bandwidth; then per stage of the network (mean per image) dense and task-queue
# cycles, stalls, speedup, and the task-queue's DRAM floor: the bytes it moves over the bandwidth
large = memories["512 KiB, 32 B/cycle"]
points = {"P = 32, 32-row slices": large.replace(array_slices=32, task_folds=1),
          "P = 64, 16-row slices": large.replace(array_slices=64, slice_rows=16, task_folds=1)}
rows = []
for name, config in points.items():
    for bandwidth in (config.dram_bandwidth_bytes_per_cycle, 2 * config.dram_bandwidth_bytes_per_cycle, float("inf")):
        rows.append(study(network, trace, config.replace(dram_bandwidth_bytes_per_cycle=bandwidth), ["task-queue"],
                          slice(2, 4), slice(0, 2), point=name, bandwidth=bandwidth))
bandwidths = pd.concat(rows, ignore_index=True)
display(bandwidths[bandwidths["scheduler"] == "task-queue"][
    ["point", "slices", "slice_rows", "task_folds", "bandwidth", "speedup_vs_dense", "lost_stall", "cycles_total",
     "energy_per_image_uj", "energy_saving_vs_dense", "input_bytes_per_cycle"]])
layers = layer_tables[points["P = 64, 16-row slices"]].assign(
    stage=lambda t: t["layer"].str.split(".").str[0].where(t["layer"].isin({g.name for g in gated}), "ungated"),
    dram_cycles=lambda t: (t["dram_read_bytes"] + t["dram_write_bytes"]) / large.dram_bandwidth_bytes_per_cycle)
stages = layers.pivot_table(index="stage", columns="scheduler", values=["cycles_total", "cycles_stall", "dram_cycles"],
                            aggfunc="sum", sort=False) / 2  # per image
stages[("speedup", "task-queue")] = stages[("cycles_total", "dense")] / stages[("cycles_total", "task-queue")]
stages.drop(columns=("dram_cycles", "dense")).round(2)"""),
        ("md", """\
**SRAM ports, charged in cycles.** Above, the SRAMs have the banks their slices stream from at
full rate (`ifmap_sram_banks = 0`: 128 for 64 slices of 16 × 1, paid in energy and area, never
a wait). With fewer banks set, each SRAM has that many banks of one `sram_port_bits` port,
shared evenly by the slices (time division, so no bank conflicts, but an idle slice's turn is
lost): a fold whose stream needs more than its slice's share takes longer, and `lost_sram`
counts what that costs. Here the best point with the ifmap SRAM in 128 down to 32 banks of 64
bits (1,024 to 256 B/cycle), the filter SRAM in 8 (a 16 × 1 slice streams one weight a step,
64 B/cycle for 64 slices)."""),
        ("code", """\
best_point = points["P = 64, 16-row slices"]
rows = [study(network, trace, best_point.replace(ifmap_sram_banks=banks, filter_sram_banks=8 if banks else 0),
              ["task-queue"], slice(2, 4), slice(0, 2), ifmap_banks=banks,
              ifmap_bytes_per_cycle=banks * best_point.sram_port_bits / 8 if banks else float("inf"))
        for banks in (0, 128, 96, 64, 48, 32)]
ports = pd.concat(rows, ignore_index=True)
ports[ports["scheduler"] == "task-queue"][["ifmap_banks", "ifmap_bytes_per_cycle", "speedup_vs_dense", "lost_sram",
                                           "lost_stall", "cycles_total", "input_bytes_per_cycle"]]"""),
        ("code", """\
# the shipped ResNet-20 trace (real gates, 2.09x) on the default accelerator
shipped = accelsim.open_trace(DEFAULT_TRACE)
r20_network = accelsim.get_network(shipped.info.network)
rows = [study(r20_network, shipped, accelsim.DEFAULT_CONFIG, list(accelsim.SCHEDULERS), slice(16, 48), slice(0, 16))]
rows += [study(r20_network, shipped, accelsim.DEFAULT_CONFIG.replace(array_slices=slices, slice_rows=height),
               ["task-queue"], slice(16, 48), slice(0, 16)) for slices, height in SLICINGS]
r20 = pd.concat(rows, ignore_index=True)
r20[["slices", "slice_rows", "scheduler", "speedup_vs_dense", "flop_reduction", "realized_fraction", "energy_per_image_uj",
     "input_bytes_per_cycle"]]"""),
        ("code", """\
for name, table in (("ResNet-18 (synthetic, 2.8x)", r18), ("ResNet-20 (shipped, 2.09x)", r20)):
    best = table.sort_values("speedup_vs_dense").iloc[-1]
    same = table[(table["scheduler"] == "dense") & (table["dataflow"] == best["dataflow"])
                 & (table["slices"] == best["slices"])
                 & (table.get("memory", best.get("memory")) == best.get("memory"))]
    print(f"{name}: best {best['scheduler']} at P = {best['slices']}, slice_rows = {best['slice_rows']}, "
          f"task_folds = {best['task_folds']} ({best['dataflow']}, "
          f"{best.get('memory', 'default memory')}): {best['speedup_vs_dense']:.2f}x over dense on the same hardware, "
          f"{best['realized_fraction']:.0%} of the MAC reduction; energy {best['energy_per_image_uj']:.0f} uJ per image "
          f"(dense {same['energy_per_image_uj'].iloc[0]:.0f}); "
          f"lowest scheduler {table['speedup_vs_dense'].min():.2f}x")"""),
        ("md", """\
What drives the result:

* **Granularity**: on one array a fold holds 32 channels, and at this trace's independence
  nearly every pixel has one of them on, so skipping saves little; a slice of 1–4 channels skips
  most pixels. That is what the task queue buys. `lost_imbalance` is what it costs when slices
  finish unevenly: with a task per channel set the busiest channels hold one slice each;
  tasks of one row tile (`task_folds = 1`) spread them, at the price of fetching a set's weights
  once per task where the filters are not on chip (on the default buffers that costs more than
  it saves).
* **What the compute side allows** (the bandwidth table, unbounded rows): with column slices
  of all 32 rows, about the CGNet band's lower edge. The last stage (7×7 = 49 pixels) caps it:
  a 32-row slice holds 32 pixels, a channel's 49 need two base folds, and its few active pixels
  leave most of a 32-row conditional fold empty. Slices of 16 rows (P = 64) fill four base folds
  as well as two and waste half as many rows on a conditional one: unbounded, they pass the
  CGNet band. The ungated stem, downsample convs and FC take the same time on both sides.
* **Memory** takes the rest. On the default buffers every slice streams its own inputs from
  DRAM: the input traffic grows with P, so the speedup peaks at small P and falls beyond. With
  512 KiB per SRAM the inputs stay on chip and the speedup grows with P. The faster the slices,
  the more the DRAM decides in the last stage: none of its filters fit half the filter SRAM, so
  its weights stream from DRAM once per image (the stage table's `dram_cycles`), which is most
  of layer 4's time. What keeps the DRAM busy there is the queue's order: a set's conditional
  tasks (few MACs per weight fetched) run beside other sets' base tasks (many), not in a phase
  of their own. Where the early layers' 32-bit base partial sums do not fit half the ofmap
  SRAM, the layer runs in pixel windows that do (a spill would cross the DRAM twice).
* **Energy**: more slices mean more input reads (`input_bytes_per_cycle`): a slice of w
  columns reads each input for w outputs, one array for 32. Each read is a 64-bit access of the
  banked ifmap macro (CACTI: one bank and the H-tree across the macro, about 55 pJ at 512 KiB,
  `docs/energy.md`) and crosses the slices' crossbar, and every weight in and result out
  crosses their networks, wires priced at the default PE pitch of 0.04 mm: past P = 8 the
  slices spend more energy than dense (`costs = "ideal"` prices a private bank per slice and
  leaves the wires out, as the earlier model did). Dense on the same sliced hardware pays the
  same macro and crossbar, so `energy_saving_vs_dense` compares like with like; the spread
  below also compares against dense on one array."""),
        ("md", """\
## Every cost charged: the spread, and the design that pays

The sections above charge what the slices stream and the wires. `cgnet_spread.py` (this
folder) re-runs the study with every cost the model has, as a spread rather than a point:

* **gates**: synthetic ResNet-18 traces at 2.0×, 2.8× and 3.2× fewer MACs, five seeds each
  (the structure fitted to the ResNet-20 trace, as above; images 0:2 calibrate, 2:4 are
  measured), and the two shipped real traces (images 0:16 calibrate, 16:32 measured);
* **memory**: 64 KiB per SRAM at 16 B/cycle, and 512 KiB at 32 B/cycle;
* **designs**: one array (its best of pixel-skip and balanced), and task-queue with tasks of one
  row tile on the 32 × 32 array cut into slices of 32 × 8, 32 × 4, 32 × 2, 32 × 1, 16 × 4,
  16 × 2 and 16 × 1 PEs. A slice of w columns is w one-column slices sharing one input bus (they
  stream the union of their pixels), so the shapes are also the broadcast option;
* **ports**: the SRAMs in the banks the slices need at full rate (`demand`, the default: never a
  wait), in half as many (`half`: the streams wait, `lost_sram`), or in ports of 128 bits;
* **costs**: SRAM ports in cycles, banked macros priced by CACTI 7 with their H-tree, wires at a
  0.04 mm PE pitch, dispatch, task generation and queue refill in cycles (1 each), control
  energy, the slices' tiles summed against the SRAMs, and area from Aladdin and CACTI
  (`docs/energy.md`).

Each row compares the design against dense on the same hardware (`speedup_vs_dense`,
`energy_vs_dense`) and against dense on one array of the same memory (`speedup_vs_one_array`,
`energy_vs_one_array`, `area_vs_one_array`). `python notebooks/cgnet_spread.py` makes the file
(about 15 minutes on 2 cores); `tests/test_cgnet_spread.py` re-runs rows of it."""),
        ("code", """\
spread = pd.read_csv("cgnet_spread.csv")
synthetic = spread[spread["gates"] == "synthetic"]
order = ["one array"] + [f"P = {p}, {s} slices" for p, s in ((4, "32x8"), (8, "32x4"), (16, "32x2"), (32, "32x1"),
                                                              (16, "16x4"), (32, "16x2"), (64, "16x1"))]

def spread_of(values):
    return f"{values.median():.2f} [{values.min():.2f}-{values.max():.2f}]"

table = (synthetic[synthetic["ports"] == "demand"]
         .groupby(["reduction", "memory", "design"], sort=False)
         .agg(speedup=("speedup_vs_dense", spread_of), vs_one_array=("speedup_vs_one_array", spread_of),
              energy_vs_dense=("energy_vs_dense", spread_of), energy_vs_one_array=("energy_vs_one_array", spread_of),
              area=("area_vs_one_array", "first"), ifmap_banks=("ifmap_banks", "first")))
table.loc[2.8]  # median [min-max] over five seeds, SRAMs banked for what the slices stream"""),
        ("code", """\
fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), layout="constrained", sharex=True)
for column, memory in enumerate(sorted(synthetic["memory"].unique(), key=lambda m: "512" in m)):
    at = synthetic[(synthetic["memory"] == memory) & (synthetic["ports"] == "demand")]
    for row, (value, label) in enumerate((("speedup_vs_dense", "speedup vs dense, same hardware (x)"),
                                          ("energy_vs_one_array", "energy / dense on one array"))):
        ax = axes[row, column]
        for offset, reduction in zip((-0.25, 0, 0.25), sorted(at["reduction"].unique())):
            data = [at[(at["design"] == design) & (at["reduction"] == reduction)][value] for design in order]
            ax.boxplot(data, positions=[i + offset for i in range(len(order))], widths=0.22, patch_artist=True,
                       boxprops={"facecolor": {2.0: "#9ecae1", 2.8: "#3182bd", 3.2: "#08519c"}[reduction]},
                       medianprops={"color": "black"}, label=f"{reduction:g}x fewer MACs")
        ax.axhline(1.0, color="0.5", linewidth=0.8)
        if value == "speedup_vs_dense":
            ax.axhspan(2.3, 2.4, color="0.85", zorder=0)
        ax.set_ylabel(label)
        ax.set_title(memory, fontsize=10)
        ax.set_xticks(range(len(order)), [d.replace(", ", "\\n") for d in order], fontsize=8)
axes[0, 0].legend(*[h[:3] for h in axes[0, 0].get_legend_handles_labels()], fontsize=8)
fig.suptitle("Every cost charged: task-queue on slices of the 32x32 array, five seeds per MAC reduction "
             "(grey band: the CGNet accelerator's 2.3-2.4x)");"""),
        ("code", """\
# lost cycles by cause (share of the design's cycles, median over seeds), 2.8x fewer MACs, SRAMs banked for the streams
lost = [c for c in spread.columns if c.startswith("lost_")]
at = synthetic[(synthetic["reduction"] == 2.8) & (synthetic["ports"] == "demand")]
shares = at[lost].div(at["cycles_total"], axis=0).assign(memory=at["memory"], design=at["design"])
shares.groupby(["memory", "design"], sort=False).median().round(3)"""),
        ("code", """\
# the SRAM ports: the banks the slices need, half as many, and 128-bit ports (2.8x, median over seeds; against
# dense on one array, whose SRAMs have the banks its streams need)
ports = synthetic[(synthetic["reduction"] == 2.8) & (synthetic["design"] != "one array")].pivot_table(
    index=["memory", "design"], columns="ports",
    values=["speedup_vs_one_array", "energy_vs_one_array", "area_vs_one_array"], aggfunc="median", sort=False)
ports.round(2)"""),
        ("md", """\
**The best design under an area budget.** Among every design and port choice, the one with the
highest median speedup over dense on one array whose area is at most 1.25× one array's (dense
+ 25 %), per MAC reduction and memory; beside it, the best without the budget, and the best in
energy (lowest median energy against dense on one array)."""),
        ("code", """\
medians = synthetic.groupby(["reduction", "memory", "design", "ports"], sort=False).median(numeric_only=True).reset_index()
rows = []
for (reduction, memory), group in medians.groupby(["reduction", "memory"], sort=False):
    within = group[group["area_vs_one_array"] <= 1.25]
    for label, pick in (("best within 1.25x area", within.loc[within["speedup_vs_one_array"].idxmax()]),
                        ("best, any area", group.loc[group["speedup_vs_one_array"].idxmax()]),
                        ("least energy", group.loc[group["energy_vs_one_array"].idxmin()])):
        causes = pick[lost] / pick["cycles_total"]
        rows.append({"reduction": reduction, "memory": memory, "pick": label, "design": pick["design"],
                     "ports": pick["ports"], "speedup_vs_one_array": pick["speedup_vs_one_array"],
                     "energy_vs_one_array": pick["energy_vs_one_array"], "area_vs_one_array": pick["area_vs_one_array"],
                     "largest loss": f"{causes.idxmax()} {causes.max():.0%}"})
best = pd.DataFrame(rows)
best.round(2)"""),
        ("code", """\
# the real traces on the same designs (SRAMs banked for the streams)
real = spread[(spread["gates"] != "synthetic") & (spread["ports"] == "demand")]
real.pivot_table(index=["gates", "memory"], columns="design", values="speedup_vs_dense", sort=False)[order].round(2)"""),
        ("md", """\
## Real gates at ResNet-18's widths

Everything above runs on synthetic gates. The shipped `traces/resnet18-fmnist.npz` holds the
decisions of a trained channel-gated ResNet-18 (CIFAR-style: a 3×3 stem, 64–512 channels, every
block conv gated; Fashion-MNIST, 28×28; `traces/README.md`). Here it runs beside two synthetic
traces at its own per-layer on-rates: one with the generator's structure fitted to it
(`accelsim trace synth --fit`), one with the generator's default structure. Every scheduler on
one array, and task-queue on the two sliced designs of the headline (P = 32, and P = 64 slices
of 16 rows; tasks of one row tile), on both memories; calibrated on images 0–15, measured on
16–31."""),
        ("code", """\
from accelsim.trace.fit import fit_knobs
from accelsim.cli import DEFAULT_TRACE

real = accelsim.open_trace(DEFAULT_TRACE.with_name("resnet18-fmnist.npz"))
net28 = accelsim.get_network(real.info.network)
fitted_knobs, real_rates = fit_knobs(real)
folder = Path(tempfile.mkdtemp())
traces = {"real": real}
for label, synth_knobs in (("synthetic, fitted", fitted_knobs), ("synthetic, default knobs", SynthKnobs())):
    traces[label] = accelsim.open_trace(synthesize(folder / f"{label}.npz", net28, list(real.layers), 32,
                                                   real_rates, synth_knobs, seed=0))
print("fitted knobs:", fitted_knobs)
rows = []
for label, gates in traces.items():
    for memory in ("64 KiB, 16 B/cycle", "512 KiB, 32 B/cycle"):
        config = memories[memory]
        rows.append(study(net28, gates, config, list(accelsim.SCHEDULERS), slice(16, 32), slice(0, 16),
                          gates=label, memory=memory, design="one array"))
        for slices, height in ((32, 0), (64, 16)):
            rows.append(study(net28, gates, config.replace(array_slices=slices, slice_rows=height, task_folds=1),
                              ["task-queue"], slice(16, 32), slice(0, 16), gates=label, memory=memory,
                              design=f"P = {slices}" + (", 16-row slices" if height else "")))
real_vs_synthetic = pd.concat(rows, ignore_index=True)
real_vs_synthetic = real_vs_synthetic[(real_vs_synthetic["scheduler"] != "dense")]
side_by_side = real_vs_synthetic.pivot_table(index=["memory", "design", "scheduler"], columns="gates",
                                             values="speedup_vs_dense", sort=False)[list(traces)]
side_by_side["fitted / real"] = side_by_side["synthetic, fitted"] / side_by_side["real"]
side_by_side["default / real"] = side_by_side["synthetic, default knobs"] / side_by_side["real"]
print("MAC reduction of the measured images:", {label: round(float(real_vs_synthetic.loc[
    real_vs_synthetic["gates"] == label, "flop_reduction"].iloc[0]), 2) for label in traces})
side_by_side.round(2)"""),
        ("code", """\
best = {label: real_vs_synthetic[real_vs_synthetic["gates"] == label].sort_values("speedup_vs_dense").iloc[-1]
        for label in traces}
for label, row in best.items():
    print(f"{label}: best {row['scheduler']} ({row['design']}, {row['memory']}): "
          f"{row['speedup_vs_dense']:.2f}x, {row['realized_fraction']:.0%} of the MAC reduction")
ratios = side_by_side[["fitted / real", "default / real"]]
print(f"synthetic against real, over every scheduler and design: fitted {ratios['fitted / real'].min():.2f}-"
      f"{ratios['fitted / real'].max():.2f}x, default knobs {ratios['default / real'].min():.2f}-"
      f"{ratios['default / real'].max():.2f}x of the real trace's speedup")"""),
    ],
}


def build(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.id = f"{name}-{len(notebook.cells)}"
        notebook.cells.append(cell)
    return notebook


def execute(notebook: nbformat.NotebookNode, timeout: int = TIMEOUT_S) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return notebook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execute", action="store_true", help="run each notebook and keep its outputs")
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="notebooks to build (default all)")
    args = parser.parse_args()
    for name in args.names:
        notebook = build(name)
        if args.execute:
            execute(notebook)
        nbformat.write(notebook, HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
