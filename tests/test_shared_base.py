"""The shared-base variant of channel gating (CGNet without channel grouping): every output's
base path is the first Cin/p input channels, so the base pass is one GEMM over the first
K/p reduction indices, with no loss at group boundaries."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim import DEFAULT_CONFIG, Layer, TraceError, get_network
from accelsim.reference import execute_on_reference
from accelsim.schedule import (PHASE_BASE, SCHEDULERS, GateGeometry, LayerGates,
                               get_scheduler)
from accelsim.schedule.plan import gemm_runs
from accelsim.trace import TraceInfo, as_trace_layer, open_trace, write_trace
from accelsim.trace.manifest import manifest_dict
from accelsim.trace.synth import gated_trace_layers, synthesize
from accelsim.engine import simulate as time_plans
from tiers import examples

DATAFLOWS = ["os", "ws", "is"]
SCHEDULER_NAMES = SCHEDULERS.names()


@st.composite
def shared_cases(draw):
    partitions = draw(st.integers(2, 4))
    in_channels = partitions * draw(st.integers(1, 2))
    out_channels = draw(st.integers(1, 6))
    kernel = draw(st.sampled_from([1, 3]))
    size = draw(st.integers(kernel, 4))
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rate = draw(st.sampled_from([0.0, 0.1, 0.4, 0.9, 1.0]))
    fallback = draw(st.sampled_from(["calibrated", "off"]))
    latency = draw(st.integers(0, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    return partitions, in_channels, out_channels, kernel, size, rows, cols, rate, fallback, latency, seed


def shared_layer(name, in_channels, out_channels, size, kernel, partitions):
    layer = Layer.conv(name, in_channels, out_channels, size, kernel, padding=kernel // 2)
    return layer, as_trace_layer(layer, 1, 1 / partitions, "shared")


def check(dataflow, scheduler_name, case):
    partitions, cin, cout, kernel, size, rows, cols, rate, fallback, latency, seed = case
    layer, trace_layer = shared_layer("g", cin, cout, size, kernel, partitions)
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=(layer.M, layer.K))
    w = rng.integers(-50, 50, size=(layer.K, layer.N))
    decisions = rng.random((cout, layer.out_h, layer.out_w)) < rate
    calibration = rng.random((3, cout, layer.out_h, layer.out_w)) < rate
    d = decisions.reshape(cout, -1).T
    config = DEFAULT_CONFIG.replace(array_rows=rows, array_cols=cols, dataflow=dataflow,
                                    fallback=fallback, gate_latency_cycles=latency)
    plan = get_scheduler(scheduler_name, timer=time_plans).plan(layer, config, LayerGates(trace_layer, decisions, calibration))

    output, cycles, executed = execute_on_reference(plan, a, w, d, config)

    assert cycles == plan.cycles
    if plan.path == "one-pass":
        assert executed == plan.macs_executed
        assert plan.cycles == get_scheduler("dense", timer=time_plans).plan(layer, config).cycles
    else:
        assert executed == plan.macs
    if scheduler_name == "dense":
        np.testing.assert_array_equal(output, a @ w)
        return
    k_base = layer.K // partitions  # the first Cin/p channels, channel-major: the first K/p indices
    partial = a[:, :k_base] @ w[:k_base, :]
    np.testing.assert_array_equal(output, np.where(d, a @ w, partial))
    assert plan.needed_macs == layer.M * cout * k_base + int(d.sum()) * (layer.K - k_base)
    assert plan.macs >= plan.needed_macs
    if plan.path == "two-pass":
        base = [item for item in plan.items if item.phase == PHASE_BASE]
        if scheduler_name == "task-queue":  # one base task per slice-wide set of channels (IS: pixels)
            assert all(item.shape[2] == k_base for item in base)
            covered = np.zeros((layer.M, cout), dtype=int)
            for item in base:
                covered[np.ix_(item.pixels, item.channels)] += 1
            assert (covered == 1).all()
        else:
            assert len(base) == 1 and base[0].shape == (layer.M, cout, k_base)


@pytest.mark.parametrize("scheduler_name", SCHEDULER_NAMES)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(60), deadline=None)
@given(case=shared_cases())
def test_shared_base_plans_on_the_reference_array(dataflow, scheduler_name, case):
    check(dataflow, scheduler_name, case)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_the_base_pass_is_one_gemm_with_no_group_boundary_loss(tmp_path, dataflow):
    """Layer layer1.0.conv1 of resnet20-fmnist, 16 → 16 channels, p = 4, on a 4×8 array: its
    two-pass base pass has the folds of a dense M×16×K/4 GEMM, and the layers table charges it
    no group-boundary loss (the grouped variant, 4 GEMMs of 4 channels, loses columns there
    where channels lie along the array: OS and WS)."""
    network = get_network("resnet20-fmnist")
    layer = network.layer("layer1.0.conv1")
    config = DEFAULT_CONFIG.replace(array_rows=4, array_cols=8, dataflow=dataflow, fallback="off")
    decisions = np.random.default_rng(0).random((1, 16, layer.out_h, layer.out_w)) < 0.3
    plans = {}
    for layout, groups in (("shared", 1), ("grouped", 4)):
        trace_layer = as_trace_layer(layer, groups, 0.25, layout)
        plans[layout] = get_scheduler("pixel-skip", timer=time_plans).plan(layer, config, LayerGates(trace_layer, decisions[0]))
        path = write_trace(tmp_path / f"{layout}.npz", TraceInfo("t", "random", 1, network=network.name),
                           [trace_layer], {layer.name: decisions})
        from accelsim.simulate import run
        with open_trace(path) as trace:
            table = run(network, config, ["pixel-skip"], trace=trace).layers
        row = table[(table["scheduler"] == "pixel-skip") & (table["layer"] == layer.name)].iloc[0]
        if layout == "shared" or dataflow == "is":  # in IS channels stream in time: no boundary
            assert row["lost_group_boundary"] == 0
        else:
            assert row["lost_group_boundary"] > 0
    runs = plans["shared"].runs
    base = runs[runs["phase"] == PHASE_BASE]
    dense = gemm_runs(layer.M, layer.N, layer.K // 4, config.array_rows, config.array_cols, dataflow,
                      config.timing, PHASE_BASE)
    assert base.tobytes() == dense.tobytes()
    grouped = plans["grouped"].runs
    grouped = grouped[grouped["phase"] == PHASE_BASE]
    shared_cycles, grouped_cycles = ((runs["count"] * runs["cycles"]).sum() for runs in (base, grouped))
    assert shared_cycles < grouped_cycles if dataflow != "is" else shared_cycles <= grouped_cycles


# -- the trace format ---------------------------------------------------------------------
def _shared_trace(tmp_path, images=2):
    network = get_network("resnet20-fmnist")
    layers = gated_trace_layers(network, "first", partitions=4, base_layout="shared")
    masks = {layer.name: np.random.default_rng(1).random((images, *layer.mask_shape)) < 0.4 for layer in layers}
    return write_trace(tmp_path / "shared.npz", TraceInfo("t", "random", images, network=network.name),
                       layers, masks), layers, masks


def test_the_field_round_trips(tmp_path):
    path, layers, masks = _shared_trace(tmp_path)
    with open_trace(path) as trace:
        assert trace.layers == tuple(layers)
        assert {layer.base_layout for layer in trace.layers} == {"shared"}
        assert all(layer.gate_groups == 1 and layer.base_fraction == 0.25 for layer in trace.layers)
        for name, bits in masks.items():
            np.testing.assert_array_equal(trace.read(name), bits)
    manifest = manifest_dict(TraceInfo("t", "random", 2), layers)
    assert all(record["base_layout"] == "shared" for record in manifest["layers"])


def test_a_grouped_layer_leaves_the_field_out():
    layer = as_trace_layer(Layer.conv("c", 8, 8, 4, 3, padding=1), 4)
    assert layer.base_layout == "grouped" and "base_layout" not in layer.to_json()
    assert "base_layout" not in json.dumps(manifest_dict(TraceInfo("t", "random", 1), [layer]))


def _layer_record(**changes):
    layer = as_trace_layer(Layer.conv("c", 8, 8, 4, 3, padding=1), 1, 0.25, "shared")
    return {**layer.to_json(), **changes}


def _write_manifest(tmp_path, record):
    import io
    import zipfile

    def npy(array):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()

    manifest = {"format": "accelsim-gate-trace", "version": 1, "model": "m", "dataset": "d",
                "accuracy": None, "images": 1, "provenance": {}, "layers": [record]}
    path = tmp_path / "t.npz"
    decisions = np.zeros((1, record["out_channels"] * record["out_h"] * record["out_w"]), bool)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.npy", npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8)))
        archive.writestr("gates/c.npy", npy(np.packbits(decisions, axis=1)))
    return path


def test_a_record_written_by_hand_is_read(tmp_path):
    with open_trace(_write_manifest(tmp_path, _layer_record())) as trace:
        assert trace.layer("c").base_layout == "shared"
    record = _layer_record(gate_groups=4, base_fraction=0.25)
    del record["base_layout"]
    with open_trace(_write_manifest(tmp_path, record)) as trace:
        assert trace.layer("c").base_layout == "grouped"
    with open_trace(_write_manifest(tmp_path, {**record, "base_layout": "grouped"})) as trace:
        assert trace.layer("c").base_layout == "grouped"


@pytest.mark.parametrize("changes, field, message", [
    ({"base_layout": "diagonal"}, "base_layout", "expected one of 'grouped', 'shared', got 'diagonal'"),
    ({"base_layout": None}, "base_layout", "expected one of 'grouped', 'shared', got None"),
    ({"base_layout": 1}, "base_layout", "got 1"),
    ({"base_fraction": 1.0}, "base_fraction", r"expected a number in \(0, 1\) for base_layout 'shared'"),
    ({"base_fraction": 0.3}, "base_fraction", "not a whole number of input channels"),
    ({"gate_groups": 2, "base_fraction": 0.5}, "gate_groups", "expected 1 for base_layout 'shared'"),
])
def test_a_bad_base_layout_is_one_line_naming_file_layer_and_field(tmp_path, changes, field, message):
    path = _write_manifest(tmp_path, _layer_record(**changes))
    with pytest.raises(TraceError, match=message) as error:
        open_trace(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: layers[0] ('c').{field}: ")


def test_as_trace_layer_checks_the_layout():
    layer = Layer.conv("c", 6, 8, 4, 3, padding=1)
    with pytest.raises(TraceError, match=r"layer 'c': base_fraction: .*not a whole number"):
        as_trace_layer(layer, 1, 0.25, "shared")
    with pytest.raises(TraceError, match="layer 'c': gate_groups: expected 1"):
        as_trace_layer(layer, 2, 0.5, "shared")
    with pytest.raises(TraceError, match="layer 'c': base_layout"):
        as_trace_layer(layer, 2, 0.5, "shared-ish")
    assert as_trace_layer(layer, 1, 0.5, "shared").base_fraction == 0.5


def test_the_grouped_rule_of_the_schedulers_is_unchanged():
    layer = Layer.conv("c", 8, 8, 4, 3, padding=1)
    gates = LayerGates(as_trace_layer(layer, 1, 0.25), np.ones((8, 4, 4), bool))
    with pytest.raises(TraceError, match="must be 1/gate_groups"):
        GateGeometry(layer, DEFAULT_CONFIG, gates)
    shared = GateGeometry(layer, DEFAULT_CONFIG, LayerGates(as_trace_layer(layer, 1, 0.25, "shared"), gates.decisions))
    assert shared.k_base == layer.K // 4 and list(shared.base_k(0)) == list(range(layer.K // 4))


# -- the synthetic generator --------------------------------------------------------------
def test_synthetic_shared_base_layers(tmp_path):
    network = get_network("resnet20-fmnist")
    layers = gated_trace_layers(network, "blocks", partitions=2, base_layout="shared")
    assert len(layers) == 18
    assert all((layer.gate_groups, layer.base_fraction, layer.base_layout) == (1, 0.5, "shared") for layer in layers)
    grouped = gated_trace_layers(network, "blocks", partitions=4)
    assert all((layer.gate_groups, layer.base_fraction, layer.base_layout) == (4, 0.25, "grouped")
               for layer in grouped)
    path = synthesize(tmp_path / "s.npz", network, layers, 3, {layer.name: 0.3 for layer in layers}, seed=2)
    with open_trace(path) as trace:
        assert trace.layers == tuple(layers) and not trace.validate()
        from accelsim.simulate import run
        config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8)
        result = run(network, config, ["dense", "pixel-skip"], trace=trace, images=slice(0, 1),
                     calibration=slice(1, 3))
    summary = result.summary.set_index("scheduler")
    assert summary.loc["pixel-skip", "cycles_total"] < summary.loc["dense", "cycles_total"]
    for bad in (1, 0):
        with pytest.raises(TraceError, match="partitions"):
            gated_trace_layers(network, "blocks", partitions=bad, base_layout="shared")


# -- the exporter -------------------------------------------------------------------------
def test_a_shared_base_resnet20_exports_and_runs_under_every_scheduler(tmp_path):
    torch = pytest.importorskip("torch")
    from accelsim.simulate import run
    from workloads.export import export_trace
    from workloads.gating import gated_convs
    from workloads.models import resnet20

    torch.manual_seed(5)
    model = resnet20("first", partitions=4, grouped=False, threshold_init=0.5)
    assert all(module.base_layout == "shared" for _, module in gated_convs(model))
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 1, 28, 28))  # BN statistics
    model.eval()
    path = export_trace(model, torch.randn(3, 1, 28, 28), tmp_path / "t.npz", model_name="tiny-shared",
                        dataset="random", network="resnet20-fmnist")
    with open_trace(path) as trace:
        assert len(trace.layers) == 9
        assert all((layer.base_layout, layer.gate_groups, layer.base_fraction) == ("shared", 1, 0.25)
                   for layer in trace.layers)
        config = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8)
        result = run(get_network("resnet20-fmnist"), config, SCHEDULER_NAMES, trace=trace,
                     images=slice(0, 1), calibration=slice(1, 3))
    layers = result.layers
    assert set(layers["scheduler"]) == set(SCHEDULER_NAMES)
    gated = layers[layers["layer"].isin([layer.name for layer in trace.layers]) & (layers["scheduler"] != "dense")]
    assert (gated["lost_group_boundary"] == 0).all()
    assert (gated["macs_needed"] < gated["macs_dense"]).all()
