import itertools
from pathlib import Path
from accelsim import DEFAULT_CONFIG, get_network, open_trace, run
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
net = get_network("resnet18")
p = Path("/tmp/same/r18.npz")
if not p.exists():
    layers = [as_trace_layer(l, 4) for l in gateable_layers(net)]
    synthesize(p, net, layers, 3, {l.name: 0.15 for l in layers}, seed=1)
with open_trace(p) as tr:
    for flow, slices, rows, bw, kib, folds in itertools.product(["os", "ws", "is"], [4, 32, 64], [0, 16], [16, 32], [64, 512], [0, 1]):
        if (slices == 4) == bool(rows) and slices != 32: continue
        cfg = DEFAULT_CONFIG.replace(array_rows=32, array_cols=32, dataflow=flow, array_slices=slices, slice_rows=rows,
              task_folds=folds, ifmap_sram_kib=kib, filter_sram_kib=kib, ofmap_sram_kib=kib, dram_bandwidth_bytes_per_cycle=bw)
        r = run(net, cfg, ["task-queue"], tr, images=slice(2, 3), calibration=slice(0, 2))
        print(flow, slices, rows, bw, kib, folds, int(r.layers["cycles_total"].sum()), int(r.layers["cycles_stall"].sum()), flush=True)
