"""Batches: B images share each layer's weights, their pixels stacked along M; with a trace,
consecutive images run together with their own decisions."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim import DEFAULT_CONFIG, Layer, Network, get_network, open_trace, run
from accelsim.errors import TraceError
from accelsim.reference import execute_on_reference
from accelsim.schedule import LayerGates, get_scheduler
from accelsim.trace import as_trace_layer
from accelsim.engine import simulate as time_plans
from tiers import examples

from test_gated_reference import expected_output


def test_a_batched_layer_is_the_gemm_with_its_pixels_stacked():
    layer = Layer.conv("c", 16, 24, 9, 3, padding=1)
    batched = replace(layer, batch=5)
    assert (batched.M, batched.N, batched.K) == (5 * layer.M, layer.N, layer.K)
    assert batched.macs == 5 * layer.macs
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8)
    stacked = run(Network("g", (Layer.gemm("c", 5 * layer.M, layer.N, layer.K),)), config).layers
    assert run(Network("b", (batched,)), config).layers["cycles_compute"].tolist() \
        == stacked["cycles_compute"].tolist()


def test_weights_are_fetched_once_per_batch():
    # everything fits its SRAM: each operand is fetched once per layer, the weights once per batch
    config = DEFAULT_CONFIG.replace(ifmap_sram_kib=1 << 16, filter_sram_kib=1 << 16, ofmap_sram_kib=1 << 16)
    network = get_network("resnet20")
    single = run(network, config).layers.set_index("layer")
    batched = run(network, config, batch=4).layers.set_index("layer")
    weights = {layer.name: layer.N * layer.K * config.operand_bits // 8 for layer in network}
    for name, bytes_ in weights.items():
        inputs = single.loc[name, "dram_read_bytes"] - bytes_
        assert batched.loc[name, "dram_read_bytes"] == 4 * inputs + bytes_
        assert batched.loc[name, "dram_write_bytes"] == 4 * single.loc[name, "dram_write_bytes"]


def test_batch_8_raises_utilisation_and_throughput_on_resnet18():
    network = get_network("resnet18")
    one, eight = (run(network, batch=batch).summary.iloc[0] for batch in (1, 8))
    assert (one["batch"], one["images"], eight["batch"], eight["images"]) == (1, 1, 8, 8)
    assert eight["pe_utilization"] > one["pe_utilization"]
    assert eight["images_per_second"] > one["images_per_second"]
    assert eight["images_per_second"] == pytest.approx(8e3 / eight["latency_ms"])
    assert eight["energy_per_image_uj"] < one["energy_per_image_uj"]  # weights read once for 8
    fc = run(network, batch=8).layers.set_index("layer").loc["fc"]
    assert fc["M"] == 8


def test_a_traced_batch_runs_each_image_with_its_own_decisions(small_trace):
    network = get_network("resnet20")
    config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8)
    schedulers = ["pixel-skip", "clock-gate", "balanced"]
    with open_trace(small_trace) as trace:
        single = run(network, config, schedulers, trace, images=slice(0, 4), calibration=slice(0, 4)).layers
        paired = run(network, config, schedulers, trace, images=slice(0, 4), calibration=slice(0, 4),
                     batch=2).layers
    assert sorted(paired["image"].unique()) == [0, 2]
    assert (paired["batch"] == 2).all()
    # a batch needs the MACs its images need, each under its own decisions
    single["pair"] = single["image"] // 2 * 2
    needed = single.groupby(["scheduler", "layer", "pair"])["macs_needed"].sum()
    assert paired.set_index(["scheduler", "layer", "image"])["macs_needed"].sort_index().tolist() \
        == needed.sort_index().tolist()


def test_images_must_hold_whole_batches(small_trace):
    with open_trace(small_trace) as trace:
        with pytest.raises(TraceError, match=r"images: 0:5 holds 5 images, not a whole number of batches of 2"):
            run(get_network("resnet20"), DEFAULT_CONFIG, ["pixel-skip"], trace, batch=2, calibration=slice(0, 2))
        with pytest.raises(TraceError, match=r"calibration: 0:3 holds 3 images"):
            run(get_network("resnet20"), DEFAULT_CONFIG, ["pixel-skip"], trace, images=slice(0, 2),
                calibration=slice(0, 3), batch=2)
        # balanced reads the calibration images even with the fallback off
        with pytest.raises(TraceError, match=r"calibration: 0:3 holds 3 images"):
            run(get_network("resnet20"), DEFAULT_CONFIG.replace(fallback="off"), ["balanced"], trace,
                images=slice(0, 2), calibration=slice(0, 3), batch=2)
        # where nothing reads them, they need not hold whole batches, and change nothing
        off = DEFAULT_CONFIG.replace(fallback="off")
        odd = run(get_network("resnet20"), off, ["pixel-skip", "task-queue"], trace, images=slice(0, 2),
                  calibration=slice(0, 3), batch=2).layers
        even = run(get_network("resnet20"), off, ["pixel-skip", "task-queue"], trace, images=slice(0, 2),
                   calibration=slice(0, 2), batch=2).layers
        pd.testing.assert_frame_equal(odd, even)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        run(get_network("resnet20"), batch=0)


@settings(max_examples=examples(30), deadline=None)
@given(batch=st.integers(2, 3), groups=st.integers(1, 2), size=st.integers(3, 4), rows=st.integers(1, 5),
       cols=st.integers(1, 5), dataflow=st.sampled_from(["os", "ws", "is"]),
       scheduler=st.sampled_from(["tile-skip", "pixel-skip", "balanced", "clock-gate"]), seed=st.integers(0, 2**32 - 1))
def test_a_batched_gated_plan_on_the_reference_array(batch, groups, size, rows, cols, dataflow, scheduler, seed):
    layer = replace(Layer.conv("g", 2 * groups, 2 * groups, size, 3, padding=1), batch=batch)
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    # B images' decisions stacked along the output rows, image by image, as the batched M
    decisions = rng.random((layer.N, batch * layer.out_h, layer.out_w)) < 0.4
    calibration = rng.random((2, layer.N, batch * layer.out_h, layer.out_w)) < 0.4
    config = DEFAULT_CONFIG.replace(array_rows=rows, array_cols=cols, dataflow=dataflow)
    plan = get_scheduler(scheduler, timer=time_plans).plan(layer, config, LayerGates(as_trace_layer(layer, groups), decisions,
                                                                   calibration))
    d = decisions.reshape(layer.N, -1).T
    output, cycles, _ = execute_on_reference(plan, a, w, d, config)
    assert cycles == plan.cycles
    np.testing.assert_array_equal(output, expected_output(a, w, d, groups))


def test_a_batched_traced_run_reruns_from_its_folder(tmp_path, small_trace, capsys):
    import json

    from accelsim.cli import main

    first, second = tmp_path / "first", tmp_path / "second"
    options = ["--scheduler", "task-queue,pixel-skip", "--images", "0:4", "--calibration", "0:2", "--batch", "2",
               "--array", "8x8", "--slices", "4", "--quiet"]
    assert main(["run", str(small_trace), *options, "--out", str(first)]) == 0
    record = json.loads((first / "run.json").read_text())
    assert record["batch"] == 2 and record["rerun"][-2:] == ["--batch", "2"]
    assert main([*record["rerun"][1:], "--out", str(second), "--quiet"]) == 0
    for name in ("layers.csv", "summary.csv", "config.toml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # a range that is not whole batches: one line, exit 2
    capsys.readouterr()
    assert main(["run", str(small_trace), "--images", "0:3", "--batch", "2", "--calibration", "0:2"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "images: 0:3 holds 3 images, not a whole number of batches of 2" in error
