"""Hostile inputs fail fast with the library's one-line errors (docs/limits.md): zip bombs,
oversized manifests, huge topologies, devices and FIFOs, and config values that overflow."""

import io
import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from accelsim import limits
from accelsim.config import DEFAULT_CONFIG, HardwareConfig, load_config
from accelsim.energy.table import energy_table
from accelsim.errors import ConfigError, TopologyError, TraceError, WorkloadError
from accelsim.scalesim_config import load_scalesim_config
from accelsim.trace import open_trace
from accelsim.trace.manifest import parse_manifest
from accelsim.trace.synth import check_synth_size, synthesize
from accelsim.trace.network import as_trace_layer, gateable_layers
from accelsim.workload import Layer, Network, get_network, load_topology

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
LAYER = {"name": "layer1.0.conv1", "in_channels": 16, "out_channels": 16, "in_h": 32, "in_w": 32,
         "kernel_h": 3, "kernel_w": 3, "stride": 1, "padding_h": 1, "padding_w": 1, "out_h": 32,
         "out_w": 32, "gate_groups": 4, "base_fraction": 0.25, "thresholds": None}


def npy_header(shape):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def manifest_bytes(images=1, layers=(LAYER,), pad=0):
    text = json.dumps({"format": "accelsim-gate-trace", "version": 1, "model": "m", "dataset": "d",
                       "accuracy": None, "images": images, "network": "resnet20", "provenance": {},
                       "layers": list(layers)}) + " " * pad
    return npy_header((len(text),)) + text.encode()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """``members``: name → iterable of byte chunks, streamed so the test itself stays small."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, chunks in members.items():
            with archive.open(name, "w", force_zip64=True) as handle:
                for chunk in chunks:
                    handle.write(chunk)
    return path


def zeros(total, chunk=1 << 22):
    while total > 0:
        yield bytes(min(chunk, total))
        total -= chunk


def fails_fast(call, error, match, seconds=5.0):
    start = time.perf_counter()
    with pytest.raises(error, match=match):
        call()
    assert time.perf_counter() - start < seconds


# -- traces ----------------------------------------------------------------------------------
def test_zip_bomb_member_is_refused_before_inflating(tmp_path):
    images = 1 << 15  # 64 MiB of zero decisions, deflated to about 64 KiB
    path = write_zip(tmp_path / "bomb.npz", {
        "manifest.npy": [manifest_bytes(images)],
        "gates/layer1.0.conv1.npy": [npy_header((images, 2048)), *zeros(images * 2048)]},
        zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    fails_fast(lambda: open_trace(path), TraceError, r"bomb.npz: gates/layer1.0.conv1.npy: compressed .* "
               r"would inflate to 67,10.*MAX_INFLATE_RATIO")


def test_deflated_manifest_bomb_is_refused(tmp_path):
    path = write_zip(tmp_path / "m.npz", {"manifest.npy": [manifest_bytes(pad=64 << 20)]}, zipfile.ZIP_DEFLATED)
    fails_fast(lambda: open_trace(path), TraceError, r"m.npz: manifest.npy: compressed .*MAX_INFLATE_RATIO")


def test_stored_manifest_larger_than_the_limit_is_refused(tmp_path):
    path = write_zip(tmp_path / "m.npz", {"manifest.npy": [manifest_bytes(pad=limits.MAX_MANIFEST_BYTES)]})
    fails_fast(lambda: open_trace(path), TraceError, r"m.npz: manifest.npy: .*MAX_MANIFEST_BYTES")


def test_declared_images_must_be_in_the_member(tmp_path):
    path = write_zip(tmp_path / "m.npz", {"manifest.npy": [manifest_bytes(images=1 << 31)],
                                          "gates/layer1.0.conv1.npy": [npy_header((1, 2048)), bytes(2048)]})
    fails_fast(lambda: open_trace(path), TraceError, r"gates/layer1.0.conv1.npy: expected shape \(2147483648, 2048\)")


def test_decisions_per_image_are_bounded():
    big = dict(LAYER, in_channels=1 << 26, out_channels=1 << 26, gate_groups=1)  # 2**36 decisions
    manifest = json.loads(manifest_bytes(layers=[big])[128:].decode())
    with pytest.raises(TraceError, match=r"t.npz: layers\[0\] .*out_channels: .*MAX_IMAGE_DECISIONS"):
        parse_manifest("t.npz", manifest)


def test_manifest_layer_count_is_bounded():
    manifest = json.loads(manifest_bytes()[128:].decode())
    manifest["layers"] = [LAYER] * (limits.MAX_LAYERS + 1)
    fails_fast(lambda: parse_manifest("t.npz", manifest), TraceError, r"t.npz: manifest.layers: .*MAX_LAYERS")


def test_duplicate_checks_are_linear():
    layers = [dict(LAYER, name=f"l{i}") for i in range(limits.MAX_LAYERS)]
    manifest = json.loads(manifest_bytes()[128:].decode())
    manifest["layers"] = layers + [dict(LAYER, name="l7")]
    manifest["layers"] = manifest["layers"][1:]  # stay within MAX_LAYERS
    fails_fast(lambda: parse_manifest("t.npz", manifest), TraceError, "layer 'l7' appears twice", seconds=20)
    net_layers = [Layer(f"l{i}", 1, 1, 1, 1) for i in range(limits.MAX_LAYERS - 1)] + [Layer("l5", 1, 1, 1, 1)]
    fails_fast(lambda: Network("n", net_layers), WorkloadError, "duplicate layer name 'l5'", seconds=5)


def test_trace_on_a_device_or_fifo(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for path in ("/dev/zero", tmp_path / "fifo", tmp_path):
        fails_fast(lambda: open_trace(path), TraceError, "cannot be read \\(not a regular file\\)")


# -- topologies and layers -------------------------------------------------------------------
@pytest.mark.parametrize("body, message", [
    ("c1,8,8,3,3,1000000000,4,1,\n", r"t.csv:2: layer 'c1': Filter Height × Filter Width × Channels = "
                                     r"9,000,000,000 .*MAX_GEMM_DIMENSION"),
    ("c1DP,8,8,3,3,100000000,4,1,\n", r"t.csv:2: Channels: a DP row .*MAX_LAYERS"),
    ("c1,100000,100000,1,1,1,1,1,\n", r"t.csv:2: layer 'c1': output pixels .*MAX_GEMM_DIMENSION"),
    ("c1,4096,4096,1,1,1,16777216,1,\n", r"t.csv:2: layer 'c1': the output operand has 281,474,976,710,656 "
                                          r"elements .*MAX_OPERAND_ELEMENTS"),
])
def test_oversized_topology_rows_fail_fast(tmp_path, body, message):
    (tmp_path / "t.csv").write_text(HEADER + body)
    fails_fast(lambda: load_topology(tmp_path / "t.csv"), TopologyError, message)


def test_gemm_topology_rows_are_bounded(tmp_path):
    (tmp_path / "t.csv").write_text("Layer, M, N, K,\ng,10000000,10000000,1,\n")
    fails_fast(lambda: load_topology(tmp_path / "t.csv"), TopologyError,
               r"t.csv:2: layer 'g': the output operand .*MAX_OPERAND_ELEMENTS")


def test_topology_layer_count_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr("accelsim.workload.topology.MAX_LAYERS", 3)
    (tmp_path / "t.csv").write_text(HEADER + "".join(f"c{i},8,8,3,3,4,4,1,\n" for i in range(4)))
    with pytest.raises(TopologyError, match=r"t.csv:5: more than 3 layers"):
        load_topology(tmp_path / "t.csv")


def test_topology_lines_are_bounded(tmp_path):
    (tmp_path / "t.csv").write_text(HEADER + "x" * (limits.MAX_TOPOLOGY_LINE + 10))
    fails_fast(lambda: load_topology(tmp_path / "t.csv"), TopologyError, r"t.csv:2: line longer than")


def test_layer_constructor_applies_the_gemm_bounds():
    with pytest.raises(WorkloadError, match=r"layer 'fc': K .*MAX_GEMM_DIMENSION"):
        Layer.fc("fc", 1 << 25, 1)
    with pytest.raises(WorkloadError, match=r"layer 'g': the weight operand"):
        Layer.gemm("g", 1, 1 << 24, 1 << 20)
    assert Layer.gemm("g", 1 << 24, 128, 128).macs == 1 << 38  # at the bounds is fine


@pytest.mark.parametrize("option", ["/dev/zero", "fifo", "directory"])
def test_text_inputs_must_be_regular_files(tmp_path, option):
    path = {"/dev/zero": "/dev/zero", "fifo": tmp_path / "fifo", "directory": tmp_path}[option]
    if option == "fifo":
        os.mkfifo(path)
    for load, error in ((load_config, ConfigError), (load_scalesim_config, ConfigError),
                        (load_topology, TopologyError)):
        fails_fast(lambda: load(path), error, r"cannot be read \(not a regular file\)")


def test_config_files_are_size_bounded(tmp_path):
    (tmp_path / "big.toml").write_text("# " + "x" * limits.MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"big.toml: cannot be read .*1,048,576 allowed"):
        load_config(tmp_path / "big.toml")


# -- config values ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("dram_bandwidth_bytes_per_cycle = 1e-300\n", "dram_bandwidth_bytes_per_cycle: expected a number from 1e-06"),
    ("dram_bandwidth_bytes_per_cycle = 1e300\n", "dram_bandwidth_bytes_per_cycle: expected a number from 1e-06"),
    ("clock_mhz = 0\n", "clock_mhz: expected a positive number, got 0"),
    ("clock_mhz = nan\n", "clock_mhz: expected a positive number, got nan"),
    ("clock_mhz = 1e-300\n", "clock_mhz: expected a number from 0.001 to 1e\\+06"),
    ("ofmap_sram_kib = 1e300\n", "ofmap_sram_kib: expected a number from 0.001 to 1e\\+09"),
    ("[energy]\nmac = 1e308\n", "energy.mac: expected a non-negative number up to 1e\\+06"),
    ("sram_port_bits = 1024\n[energy]\nsram_port_exponent = 100000.0\n", "energy: .*no finite energy table"),
    ("clock_mhz = 0.001\nifmap_sram_kib = 1e9\n", "energy.leakage_cycle: resolves to"),
])
def test_config_values_that_would_overflow_are_refused(tmp_path, text, message):
    (tmp_path / "hw.toml").write_text(text)
    with pytest.raises(ConfigError, match="hw.toml: " + message):
        load_config(tmp_path / "hw.toml")


def test_scalesim_bandwidth_is_bounded(tmp_path):
    (tmp_path / "s.cfg").write_text("[architecture_presets]\nBandwidth: 1e-300\n[run_presets]\n"
                                    "InterfaceBandwidth: USER\n")
    with pytest.raises(ConfigError, match=r"s.cfg: Bandwidth .*expected a number from 1e-06"):
        load_scalesim_config(tmp_path / "s.cfg")


def test_extreme_but_allowed_config_gives_finite_results():
    from accelsim.simulate import run

    config = DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=1e-6, clock_mhz=1e-3)
    assert all(np.isfinite(action.value) for action in energy_table(config).actions)
    summary = run(get_network("resnet20"), config, ["dense"]).summary
    assert np.isfinite(summary.select_dtypes("number").to_numpy(dtype=float)).all()
    assert isinstance(HardwareConfig(clock_mhz=1e6).clock_mhz, float)


# -- synthetic traces ------------------------------------------------------------------------
def test_synth_size_is_checked_up_front(tmp_path):
    network = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    fails_fast(lambda: synthesize(tmp_path / "s.npz", network, layers, 10 ** 9, {l.name: 0.3 for l in layers}),
               TraceError, r"s.npz: images: expected an integer from 1 to 1,048,576")
    with pytest.raises(TraceError, match=r"images: 100,000 images × 21,504 bytes .*MAX_SYNTH_BYTES"):
        check_synth_size(100_000, layers)
    assert not (tmp_path / "s.npz").exists()


def test_synth_streams_layers_in_chunks(tmp_path):
    network = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)][:2]
    path = synthesize(tmp_path / "s.npz", network, layers, 40, {l.name: 0.3 for l in layers})
    with open_trace(path) as trace:
        assert trace.validate() == []
        assert trace.read(layers[0].name).shape == (40, 16, 32, 32)


# -- the command line: one line, exit 2, little memory ---------------------------------------
def test_cli_on_hostile_inputs_is_quick_and_small(tmp_path):
    (tmp_path / "t.csv").write_text(HEADER + "c1,8,8,3,3,1000000000,4,1,\n")
    (tmp_path / "dp.csv").write_text(HEADER + "c1DP,8,8,3,3,100000000,4,1,\n")
    images = 1 << 15
    write_zip(tmp_path / "bomb.npz", {"manifest.npy": [manifest_bytes(images)],
                                      "gates/layer1.0.conv1.npy": [npy_header((images, 2048)), *zeros(images * 2048)]},
              zipfile.ZIP_DEFLATED)
    cases = [["run", "--topology", str(tmp_path / "t.csv")], ["run", "--topology", str(tmp_path / "dp.csv")],
             ["run", "--config", "/dev/zero"], ["trace", "validate", str(tmp_path / "bomb.npz")],
             ["trace", "synth", "--network", "resnet20", "--images", "1000000000", "--out", str(tmp_path / "s.npz")]]
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
              "from accelsim.cli import main; sys.exit(main(sys.argv[1:]))")
    for args in cases:
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("accelsim: error: ") and done.stderr.count("\n") == 1, done.stderr
