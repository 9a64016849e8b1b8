"""The memory system: ideal memory adds nothing; a starved array waits for the DRAM."""

import math

import numpy as np
import pytest

from accelsim import DEFAULT_CONFIG, Layer, Network, get_network, run
from accelsim.engine import simulate
from accelsim.schedule import SCHEDULERS, get_scheduler
from accelsim.trace import open_trace, synthesize, as_trace_layer, gateable_layers
from accelsim.engine import simulate as time_plans

IDEAL = DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=math.inf)


@pytest.fixture(scope="module")
def synthetic_resnet20(tmp_path_factory):
    net = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(net)]
    path = tmp_path_factory.mktemp("engine") / "r20.npz"
    return synthesize(path, net, layers, 3, {layer.name: 0.3 for layer in layers}, seed=1)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_unbounded_bandwidth_means_no_stalls(synthetic_resnet20, dataflow):
    config = IDEAL.replace(dataflow=dataflow, array_rows=8, array_cols=16)
    with open_trace(synthetic_resnet20) as trace:
        layers = run(get_network("resnet20"), config, SCHEDULERS.names(), trace).layers
    assert (layers["cycles_stall"] == 0).all()
    assert (layers["cycles_total"] == layers["cycles_compute"]).all()


def test_a_bandwidth_bound_layer_takes_bytes_over_bandwidth():
    """4096→4096 FC on an 8×8 OS array at 1 byte/cycle: each fold fetches a 32 KiB weight tile
    that takes far longer than the fold computes, so the DRAM sets the pace."""
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dram_bandwidth_bytes_per_cycle=1.0,
                                    filter_sram_kib=64)
    layers = run(Network("fc", (Layer.fc("fc", 4096, 4096),)), config).layers
    row = layers.iloc[0]
    plan = get_scheduler("dense", timer=time_plans).plan(Layer.fc("fc", 4096, 4096), config)
    timing = simulate([plan], config)[0]
    moved = timing.traffic["dram_read_bytes"]
    assert moved >= 4096 * 4096  # every weight at least once
    assert row["cycles_stall"] > 0
    assert row["cycles_total"] == pytest.approx(moved / 1.0, rel=0.02)


def test_stalls_shrink_as_bandwidth_grows():
    net = get_network("resnet18")
    stalls = [run(net, DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=bw)).summary["cycles_stall"].iloc[0]
              for bw in (4, 16, 64, 256)]
    assert stalls == sorted(stalls, reverse=True) and stalls[0] > stalls[-1]


def test_resident_operands_are_fetched_once():
    """A layer whose inputs and filters fit in half of their SRAMs reads each byte from DRAM once."""
    layer = Layer.conv("c", 16, 16, 16, 3, padding=1)
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8)
    timing = simulate([get_scheduler("dense", timer=time_plans).plan(layer, config)], config)[0]
    assert timing.traffic["dram_read_bytes"] == 16 * 16 * 16 + 16 * 16 * 9
    assert timing.traffic["dram_write_bytes"] == 16 * 16 * 16


def test_bigger_srams_do_not_slow_resnet18():
    """Operands that stay on chip stream in with the folds that use them, and outputs leave as
    folds finish, rather than the first fold waiting for a whole feature map: so SRAMs large
    enough to keep more on chip do not cost dense ResNet-18 cycles at 32 B/cycle."""
    net = get_network("resnet18")
    config = DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=32.0)
    totals = [run(net, config.replace(ifmap_sram_kib=kib, filter_sram_kib=kib, ofmap_sram_kib=kib)
                  ).summary["cycles_total"].iloc[0] for kib in (64, 128, 512, 4096)]
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]


def test_a_stride_longer_than_the_kernel_reads_part_of_the_input():
    """A 1×1 convolution of stride 2 reads one input in four: it fetches those, once they fit
    half the ifmap SRAM, so a bigger SRAM neither moves more bytes nor costs cycles."""
    layer = Layer.conv("d", 64, 64, 32, 1, stride=2)  # 64 KiB of inputs, 16 KiB of them read
    timings = [simulate([get_scheduler("dense", timer=time_plans).plan(layer, config)], config)[0]
               for config in (DEFAULT_CONFIG.replace(ifmap_sram_kib=kib, dram_bandwidth_bytes_per_cycle=2.0)
                              for kib in (16, 64, 512))]
    reads = [timing.traffic["dram_read_bytes"] for timing in timings]
    assert reads[1] == reads[2] == 64 * 16 * 16 + 64 * 64 and reads[0] > reads[1]
    assert timings[0].cycles_total >= timings[1].cycles_total == timings[2].cycles_total


def test_a_layer_streams_what_stays_on_chip():
    """A compute-bound layer whose inputs and filters stay on chip waits only for its first
    fold's share of them and the latency, not for the whole of them."""
    layer = Layer.conv("c", 64, 64, 32, 3, padding=1)  # 64 KiB of inputs, 36 KiB of filters
    config = DEFAULT_CONFIG.replace(ifmap_sram_kib=512, filter_sram_kib=512, ofmap_sram_kib=512,
                                    dram_bandwidth_bytes_per_cycle=16.0)
    plan = get_scheduler("dense", timer=time_plans).plan(layer, config)
    timing = simulate([plan], config)[0]
    whole = (timing.traffic["dram_read_bytes"] + timing.traffic["dram_write_bytes"]) / 16.0
    assert timing.cycles_compute > whole  # the layer has time to move everything while it computes
    assert 0 < timing.cycles_stall < 0.1 * whole


def test_gated_partial_sums_spill_when_the_ofmap_sram_is_small(synthetic_resnet20):
    net = get_network("resnet20")
    two_pass = DEFAULT_CONFIG.replace(fallback="off")
    with open_trace(synthetic_resnet20) as trace:
        big = run(net, two_pass.replace(ofmap_sram_kib=1024), ["pixel-skip"], trace, slice(0, 1)).layers
        small = run(net, two_pass.replace(ofmap_sram_kib=1), ["pixel-skip"], trace, slice(0, 1)).layers
    gated = (big["scheduler"] == "pixel-skip") & big["gate_on_rate"].notna()
    assert (small.loc[gated, "dram_write_bytes"] > big.loc[gated, "dram_write_bytes"]).all()
    assert (big.loc[gated, "decision_sram_bytes"] > 0).all()
    assert (big.loc[~big["gate_on_rate"].notna(), "decision_sram_bytes"] == 0).all()


def test_no_spill_without_a_conditional_pass(tmp_path):
    """With one gate group every input is on the base path: nothing waits between passes."""
    net = get_network("resnet20")
    layers = [as_trace_layer(layer, 1) for layer in gateable_layers(net)]
    path = synthesize(tmp_path / "g1.npz", net, layers, 1, {layer.name: 0.3 for layer in layers})
    config = DEFAULT_CONFIG.replace(ofmap_sram_kib=1)
    with open_trace(path) as trace:
        table = run(net, config, ["pixel-skip"], trace).layers
    dense, gated = (table[table["scheduler"] == name].reset_index() for name in ("dense", "pixel-skip"))
    assert list(gated["dram_write_bytes"]) == list(dense["dram_write_bytes"])
    assert list(gated["cycles_total"]) == list(dense["cycles_total"])


def test_scalesim_offset_adds_no_stall():
    config = IDEAL.replace(timing="scalesim")
    layers = run(get_network("resnet18"), config).layers
    assert (layers["cycles_stall"] == 0).all()


def test_a_layer_takes_the_same_cycles_wherever_it_starts():
    """Layers are timed in their own frame: deep into a long, DRAM-bound network a layer takes
    exactly the cycles it takes alone (the fallback's per-layer choice relies on it)."""
    import numpy as np

    from accelsim import Layer
    from accelsim.schedule import get_scheduler

    rng = np.random.default_rng(0)
    layers = [Layer.conv(f"l{i}", int(rng.integers(3, 64)), int(rng.integers(3, 64)), int(rng.integers(3, 20)), 3,
                         padding=1) for i in range(30)]
    for bandwidth in (0.3, 1.7, 7.1):
        config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, dram_bandwidth_bytes_per_cycle=bandwidth,
                                        dram_latency_cycles=13, ifmap_sram_kib=1, filter_sram_kib=1)
        plans = [get_scheduler("dense", timer=time_plans).plan(layer, config) for layer in layers]
        alone = [simulate([plan], config)[0].cycles_total for plan in plans]
        network = simulate(plans * 20, config)
        assert network[-1].start_cycle > 10**6
        assert [timing.cycles_total for timing in network] == alone * 20
