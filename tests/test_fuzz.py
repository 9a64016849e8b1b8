"""Fuzzing the command line: generated hostile arguments, topologies, configs and damaged traces
each run the real ``accelsim`` in a subprocess, under a memory and a time limit, in an empty
directory. Every case must end as a clean failure: exit status 2, one line on stderr that
starts with ``accelsim: error:``, no traceback, and nothing left on disk (see docs/limits.md).

A subprocess costs about a second, so each generator runs a modest number of examples; the
whole file stays within about three minutes on two cores.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import resource
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.trace import TraceInfo, as_trace_layer, gateable_layers, synthesize
from accelsim.trace.synth import SynthKnobs
from accelsim.workload import get_network
from tiers import examples as tier_examples

CLI = [sys.executable, "-c", "import sys; from accelsim.cli import main; sys.exit(main(sys.argv[1:]))"]
#: address space of one case: a real run of the shipped trace needs under 0.5 GiB (numpy and
#: pandas included); a bomb that were inflated, or a table sized by a hostile number, would not fit
MEMORY_LIMIT = 1 << 30
#: seconds of one case; a clean failure takes about one (the interpreter's start-up)
TIME_LIMIT = 20
SMALL_IMAGES = 4

def fuzz(examples: int) -> settings:
    """Settings of one generator: ``examples`` subprocesses, no deadline (each takes ~1 s)."""
    return settings(max_examples=tier_examples(examples), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _files(folder: Path) -> set[str]:
    """Every path under ``folder``, hidden ones (temporary files) included."""
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(root, name), folder))
    return found


def accelsim(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # one BLAS thread: on a many-core CPU each thread's buffers would count against the limit
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "COLUMNS": "200",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, timeout=TIME_LIMIT,
                          stdin=subprocess.DEVNULL, preexec_fn=_limit_memory, env=env)


def check_failure(args: list[str], cwd: Path, allow_success: bool = False,
                  several_lines: bool = False, outputs: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``accelsim args`` in ``cwd`` and check that it failed cleanly (or, if allowed,
    succeeded) and that ``cwd`` holds exactly what it held before (plus, after a success,
    files under ``outputs``)."""
    before = _files(cwd)
    result = accelsim(args, cwd)
    stderr = result.stderr.decode("utf-8", "replace")
    stdout = result.stdout.decode("utf-8", "replace")
    shown = f"accelsim {args!r}\nexit {result.returncode}\nstderr: {stderr[-3000:]!r}\nstdout: {stdout[-500:]!r}"
    assert "Traceback" not in stderr + stdout, shown
    if allow_success and result.returncode == 0:
        assert all(line.startswith("accelsim: note:") for line in stderr.splitlines()), shown
    else:
        assert result.returncode == 2, shown
        lines = stderr.split("\n")
        assert lines[-1] == "", shown  # ends with a line break
        lines = lines[:-1]
        assert len(lines) == 1 or (several_lines and lines), shown
        assert all(line.startswith("accelsim: error: ") and line.isprintable() for line in lines), shown
    new = _files(cwd) - before
    if result.returncode == 0:
        new = {path for path in new if path.split(os.sep)[0] not in outputs}
    assert _files(cwd) >= before and not new, shown
    return result


# -- inputs ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> Path:
    """A synthetic trace of ResNet-20 with a few images (the shipped one is 4 MB)."""
    network = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    path = tmp_path_factory.mktemp("fuzz") / "small.npz"
    synthesize(path, network, layers, SMALL_IMAGES, {layer.name: 0.3 for layer in layers}, SynthKnobs(), 0)
    return path


def folder():
    return tempfile.TemporaryDirectory(prefix="accelsim-fuzz-")


def no_nul(text: str) -> str:
    return text.replace("\x00", "")


junk_text = st.text(max_size=40).map(no_nul)


# -- command-line arguments ------------------------------------------------------------------
ARRAY = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", re.ASCII)


def _valid_array(text: str) -> bool:
    match = ARRAY.fullmatch(text)
    return bool(match) and 0 < int(match[1]) <= 1 << 16 and 0 < int(match[2]) <= 1 << 16


bad_array = st.one_of(
    st.sampled_from(["0x0", "0x4", "4x0", "65537x1", "1x99999999999999999999999", "-4x4", "4.5x4",
                     "4x", "x4", "4*4", " ", "४x४", "1e3x4", "0x10", "4x4x4", "nan", "32X-1"]),
    st.tuples(st.integers(-10, 1 << 70), st.integers(-10, 1 << 70)).map(lambda p: f"{p[0]}x{p[1]}"),
    junk_text).filter(lambda text: not _valid_array(text))
bad_name = junk_text.filter(lambda text: text not in ("os", "ws", "is", "physical", "scalesim", "pipelined"))


def _bad_images(images: int):
    """Image ranges that are refused for a trace of ``images`` images."""

    def valid(text: str) -> bool:
        start, colon, stop = text.partition(":")
        try:
            first = int(start) if start.strip() else None
            last = (int(stop) if stop.strip() else None) if colon else (first + 1 if first is not None else None)
        except ValueError:
            return False
        if (first is not None and first < 0) or (last is not None and last < 0):
            return False
        lo, hi = first or 0, images if last is None else last
        return lo < hi <= images and lo < images

    numbers = st.integers(-3, 1 << 64)
    return st.one_of(
        st.sampled_from(["0:999999", "3:3", "4:2", "-1:2", "1:-1", "a:b", ":", "0:0", "::", "1:2:3",
                         "nan", "0x1:2", "1e3", "999999", "0.5:2"]),
        st.tuples(numbers, numbers).map(lambda p: f"{p[0]}:{p[1]}"),
        junk_text).filter(lambda text: not valid(text))


def _option(name: str, value: str, data) -> list[str]:
    """``--name value`` or ``--name=value`` (the second passes values that start with '-')."""
    if value.startswith("-") or not value or data.draw(st.booleans(), label="joined"):
        return [f"{name}={value}"]
    return [name, value]


HARDWARE_BAD = {"--array": bad_array, "--dataflow": bad_name, "--timing": bad_name,
                "--config": junk_text.map(lambda t: "nope-" + t), "--scalesim-config": junk_text.map(lambda t: "nope-" + t)}
HARDWARE_GOOD = {"--array": st.sampled_from(["8x8", "16x4", " 2X3 "]), "--dataflow": st.sampled_from(["os", "ws", "is"]),
                 "--timing": st.sampled_from(["physical", "scalesim"])}


def _bad_scheduler():
    names = {"dense", "gated", "balanced", "balanced-oracle", "skipping", "all"}
    return st.one_of(st.sampled_from([",", " , ", "dense,,nope", "Dense", "all,dense", "ALL"]),
                     junk_text.filter(lambda t: not {n.strip() for n in t.split(",") if n.strip()} <= names))


def _command(data, small_trace: Path) -> list[str]:
    """A command line of one subcommand with at least one bad value, and maybe good ones."""
    command = data.draw(st.sampled_from(["run", "config", "energy-table", "trace info", "trace validate",
                                         "trace synth"]), label="command")
    if command in ("config", "energy-table", "run"):
        bad = dict(HARDWARE_BAD)
        good = dict(HARDWARE_GOOD)
        base = command.split()
        if command == "run":
            base += [str(small_trace), "--scheduler", "dense", "--quiet"]
            bad.update({"--images": _bad_images(SMALL_IMAGES), "--calibration": _bad_images(SMALL_IMAGES),
                        "--scheduler": _bad_scheduler(), "--network": junk_text.filter(lambda t: t != "resnet20"),
                        "--topology": junk_text.map(lambda t: "nope-" + t),
                        "--clock-mhz": st.sampled_from(["0", "nan", "-1", "1e30", "x"]),
                        "--bandwidth": st.sampled_from(["0", "-1", "nan", "x"]),
                        "--gate-latency": st.sampled_from(["-1", "1.5", "x", "9" * 30]),
                        "--fallback": junk_text.filter(lambda t: t not in ("calibrated", "off")),
                        "--energy-profile": junk_text.filter(lambda t: t not in ("accelergy45", "horowitz45")),
                        "--dram-type": st.sampled_from(["DDR9", "lpddr4", ""])})
            good.update({"--ofmap-kb": st.sampled_from(["16", "128"]), "--clock-mhz": st.just("500"),
                         "--fallback": st.just("off")})
            good.update({"--images": st.sampled_from(["0:1", "1", "3:"]), "--network": st.just("resnet20"),
                         "--calibration": st.sampled_from(["0:2", ":1"])})
    elif command in ("trace info", "trace validate"):
        base = command.split() + [str(small_trace)]
        bad = {"--network": junk_text.filter(lambda t: t != "resnet20"),
               "--topology": junk_text.map(lambda t: "nope-" + t), "--images": st.just("1")}
        good = {"--network": st.just("resnet20")}
        if command == "trace info":
            good["--json"] = st.just(None)
    else:
        base = ["trace", "synth", "--out", "out.npz", "--quiet"]
        numbers = st.sampled_from(["nan", "inf", "-inf", "-1", "1e308", "-0.5", "x", "", "11"])
        bad = {"--network": junk_text.filter(lambda t: t not in ("resnet20", "resnet18", "resnet18-fmnist", "resnet20-fmnist", "vgg16-cifar")),
               "--images": st.one_of(st.sampled_from(["0", "-1", "x", "1.5", str((1 << 20) + 1), "9" * 30]), junk_text
                                     .filter(lambda t: not t.strip().isdigit())),
               "--seed": st.sampled_from(["-1", "x", "1.5", ""]),
               "--rate": st.sampled_from(["nan", "-0.1", "1.5", "inf", "x", ""]),
               "--target-reduction": st.sampled_from(["0", "-2", "nan", "1e9", "inf", "x"]),
               "--gated": junk_text.filter(lambda t: t not in ("blocks", "first")),
               "--gate-groups": st.sampled_from(["0", "-4", "3", "x", "1000", "99999999999999999999"]),
               "--fit": junk_text.map(lambda t: "nope-" + t),
               **{f"--{knob}": numbers for knob in ("length-scale", "global-share", "group-share", "noise-share",
                                                     "channel-bias-std", "image-std")}}
        good = {"--images": st.sampled_from(["1", "2"]), "--seed": st.sampled_from(["0", "7"]),
                "--gate-groups": st.sampled_from(["2", "4"]), "--independent": st.just(None)}
        if data.draw(st.booleans(), label="network given"):
            base += ["--network", "resnet20"]
            bad.pop("--network")
        else:
            bad.pop("--fit")  # without a network the command is refused anyway; keep --fit for the rest
    chosen = data.draw(st.lists(st.sampled_from(sorted(bad)), min_size=1, max_size=2, unique=True), label="bad")
    pool = sorted(set(good) - set(chosen))
    extras = data.draw(st.lists(st.sampled_from(pool), max_size=2, unique=True), label="good") if pool else []
    args = list(base)
    for option in extras:
        value = data.draw(good[option], label=option)
        args += [option] if value is None else _option(option, value, data)
    for option in chosen:
        args += _option(option, data.draw(bad[option], label=option), data)
    return args


@fuzz(20)
@given(data=st.data())
def test_bad_command_lines_fail_cleanly(small_trace, data):
    args = _command(data, small_trace)
    with folder() as cwd:
        check_failure(args, Path(cwd))


SWEEP_BAD = {
    "--array": st.lists(bad_array, min_size=1, max_size=2).map(",".join).filter(lambda t: t.strip(", ")),
    "--dataflow": st.sampled_from(["xs", "os,nope", "OS", ",,", "os,,ws,  ,q"]),
    "--ifmap-kb": st.sampled_from(["0", "-1", "nan", "inf", "1e300", "1e-300", "x", "64,abc", ",", "64;128"]),
    "--filter-kb": st.sampled_from(["0", "nan", "1e10", "sixty-four"]),
    "--ofmap-kb": st.sampled_from(["-inf", "1e-9", "0x10"]),
    "--bandwidth": st.sampled_from(["0", "-16", "nan", "1e-300", "1e300", "16,0", "x"]),
    "--max-points": st.sampled_from(["0", "-5", "x", "1.5", ""]),
    "--workers": st.sampled_from(["0", "-1", "x", ""]),
    "--images": _bad_images(SMALL_IMAGES),
    "--calibration": _bad_images(SMALL_IMAGES),
    "--scheduler": _bad_scheduler(),
    "--network": st.sampled_from(["resnet-21", "", "vgg16-cifar"]),  # the last: its shapes do not match
    "--config": junk_text.map(lambda t: "nope-" + t),
    "--grid": junk_text.map(lambda t: "nope-" + t),
}


@fuzz(10)
@given(data=st.data())
def test_bad_sweep_arguments_fail_before_running(small_trace, data):
    chosen = data.draw(st.lists(st.sampled_from(sorted(SWEEP_BAD)), min_size=1, max_size=2, unique=True))
    args = ["sweep", str(small_trace), "--out", "results", "--quiet"]
    if data.draw(st.booleans(), label="too many points"):  # 4 points, at most 3
        args += ["--array", "8x8,16x16", "--bandwidth", "4,8", "--max-points", "3"]
        chosen = [option for option in chosen if option not in ("--max-points", "--array", "--bandwidth")]
    for option in chosen:
        args += _option(option, data.draw(SWEEP_BAD[option], label=option), data)
    with folder() as cwd:
        check_failure(args, Path(cwd))
        assert not (Path(cwd) / "results").exists()


# -- topologies ------------------------------------------------------------------------------
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
GEMM_HEADER = "Layer, M, N, K,"
hostile_cell = st.one_of(
    st.sampled_from(["0", "-1", "-0", "1.5", "1e3", "nan", "inf", "", " ", "0x10", "١٢", "1_000", "+3",
                     "99999999999999999999999999", str(1 << 24), str((1 << 24) + 1), str(1 << 36), "x" * 200]),
    st.integers(-(1 << 70), 1 << 70).map(str),
    st.integers(1, 64).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))
layer_name = st.one_of(st.sampled_from(["c1", "conv DP", "DPx", "fc", "a\"b", "'q'", "", " ", "x" * 300]),
                       st.text(max_size=16).map(no_nul).map(lambda t: t.replace("\n", " ")))


@st.composite
def topologies(draw) -> str:
    gemm = draw(st.booleans())
    columns = 4 if gemm else 8
    good = GEMM_HEADER if gemm else CONV_HEADER
    header = draw(st.sampled_from([good] * 5 + [good[:-1], good + " Sparsity,", "Layer, M, N,", "", "garbage",
                                              CONV_HEADER + " Extra,"]))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        width = draw(st.sampled_from([columns, columns, columns, columns + 1, columns - 2, columns + 5, 1]))
        cells = [draw(layer_name)] + [draw(hostile_cell) for _ in range(width - 1)]
        rows.append(",".join(cells) + draw(st.sampled_from([",", "", ",,,"])))
    if draw(st.integers(0, 9)) == 0:
        rows.append("c9," + "7," * 40_000)  # a very long line
    text = "\n".join([header, *rows]) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))
    return text


@fuzz(15)
@given(text=topologies(), how=st.sampled_from(["trace info", "trace validate", "trace synth"]))
def test_hostile_topologies_fail_cleanly(small_trace, text, how):
    """A topology never matches the small trace's layers, so even a valid one is refused by
    ``trace info``/``validate``; ``trace synth`` is given an invalid rate after the topology."""
    with folder() as cwd:
        Path(cwd, "t.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
        if how == "trace synth":
            args = ["trace", "synth", "--topology", "t.csv", "--out", "s.npz", "--rate", "2", "--quiet"]
        else:
            args = how.split() + [str(small_trace), "--topology", "t.csv"]
        check_failure(args, Path(cwd), several_lines=how == "trace validate")


# -- configs ---------------------------------------------------------------------------------
FIELD_BAD = {
    "array_rows": ["0", "-1", "65537", "1.5", '"32"', "true", "1e3", "[32]", "nan", "99999999999999999999"],
    "array_cols": ["0", "4.0", '"x"', "{}", "inf"],
    "dataflow": ['"OS"', '"xs"', "1", '""', "[]"],
    "timing": ['"Physical"', "0", '"\\u0000"'],
    "ifmap_sram_kib": ["0", "-1", "nan", "inf", "-inf", "1e-300", "1e300", '"64"', "true", "1e10"],
    "filter_sram_kib": ["0.0", "+nan", "1e-4"],
    "ofmap_sram_kib": ["-0.0", "1e9999", "2e9"],
    "dram_bandwidth_bytes_per_cycle": ["0", "nan", "-inf", "1e-300", "1e300", "1e13", "false", '"16"'],
    "dram_latency_cycles": ["-1", "1.5", "2199023255553", '"100"', "nan"],
    "clock_mhz": ["0", "nan", "inf", "-1", "1e-300", "1e300", "1e7", "0.0001", '"1000"'],
    "operand_bits": ["0", "1025", "8.0", "-8"],
    "accumulator_bits": ["4", "0", "2000"],  # 4 < operand_bits
    "word_bytes": ["0", "-1", "1025"],
    "energy_profile": ['"nope"', "1", '""'],
    "technology_nm": ["0", "-45", "45.5"],
    "dram_type": ['""', "1", "[]"],
    "sram_port_bits": ["0", "4096"],
}
FIELD_GOOD = {"array_rows": ["8", "16"], "dataflow": ['"ws"'], "clock_mhz": ["500.0", "1e6"],
              "dram_bandwidth_bytes_per_cycle": ["inf", "1e-6", "32"], "ifmap_sram_kib": ["1e-3", "128"],
              "operand_bits": ["8"], "technology_nm": ["45", "22"]}
ENERGY_BAD = ["1e308", "-1", "nan", "inf", '"x"', "1e7", "true"]


@st.composite
def bad_tomls(draw) -> bytes:
    lines = []
    for key in draw(st.lists(st.sampled_from(sorted(FIELD_GOOD)), max_size=3, unique=True)):
        lines.append(f"{key} = {draw(st.sampled_from(FIELD_GOOD[key]))}")
    kind = draw(st.sampled_from(["field", "field", "field", "unknown", "duplicate", "energy", "junk", "bytes"]))
    if kind == "field":
        key = draw(st.sampled_from(sorted(FIELD_BAD)))
        lines.append(f"{key} = {draw(st.sampled_from(FIELD_BAD[key]))}")
    elif kind == "unknown":
        key = draw(st.sampled_from(["clock", "array", "Clock_MHz", "bandwidth", '"a b"', "x.y"]))
        lines.append(f"{key} = 1")
    elif kind == "duplicate":
        lines += ["clock_mhz = 1000", "clock_mhz = 1000"]
    elif kind == "energy":
        entry = draw(st.sampled_from(["mac", "leakage_cycle", "sram_port_exponent", "nope", "dram_per_bit"]))
        lines += ["[energy]", f"{entry} = {draw(st.sampled_from(ENERGY_BAD))}"]
    elif kind == "junk":
        lines.append(draw(st.sampled_from(["clock_mhz =", "= 3", "[energy", "a = [1,", "x = 1 2",
                                           "clock_mhz = 1_000_", "[[energy]]\nmac = 1", "[energy]\nmac = 1\n[energy]"])))
    text = "\n".join(lines).encode() + b"\n"
    if kind == "bytes":
        junk = draw(st.binary(min_size=1, max_size=64))
        text += draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\x80"])) + junk
    return text


@fuzz(15)
@given(text=bad_tomls(), command=st.sampled_from(["config", "energy-table", "run"]))
def test_hostile_toml_configs_fail_cleanly(text, command):
    with folder() as cwd:
        Path(cwd, "hw.toml").write_bytes(text)
        args = [command, "--config", "hw.toml"] + (["--network", "resnet20", "--out", "o"] if command == "run" else [])
        check_failure(args, Path(cwd))


SCALESIM_BAD = {
    "ArrayHeight": ["0", "-1", "1.5", "x", "99999999999", ""],
    "ArrayWidth": ["65537", "nan", "8x"],
    "IfmapSramSzkB": ["0", "nan", "-inf", "1e-300", "1e300", "x"],
    "FilterSramSzkB": ["inf", "-1"],
    "OfmapSramSzkB": ["1e10", ""],
    "Dataflow": ["xs", "OS", "", "ws # comment", "1"],
    "Bandwidth": ["0", "-1", "nan", "1e-300", "1e300", "x", ""],
}


@st.composite
def bad_scalesim_configs(draw) -> bytes:
    mode = draw(st.sampled_from(["USER", "CALC"]))
    entries = {"ArrayHeight": "8", "ArrayWidth": "8", "Dataflow": "os", "Bandwidth": "10"}
    kind = draw(st.sampled_from(["value", "value", "value", "mode", "duplicate", "section", "bytes"]))
    extra = ""
    if kind == "value":
        key = draw(st.sampled_from(sorted(SCALESIM_BAD)))
        if key == "Bandwidth":
            mode = "USER"
        entries[key] = draw(st.sampled_from(SCALESIM_BAD[key]))
    elif kind == "mode":
        mode = draw(st.sampled_from(["user", "", "AUTO", "CALC USER"]))
    elif kind == "duplicate":
        extra = "ArrayHeight: 8\n"
    elif kind == "section":
        extra = draw(st.sampled_from(["[architecture_presets]\n", "[broken\n", "no section header\n", "  indented: x\n"]))
        if extra.startswith(" "):  # continues Bandwidth's value, which only USER mode reads
            mode = "USER"
    if mode == "USER" and kind == "value" and entries.get("Bandwidth") is None:
        entries.pop("Bandwidth")
    lines = ["[general]", "run_name = fuzz", "", "[architecture_presets]"]
    lines += [f"{key}: {value}" for key, value in entries.items()]
    text = ("\n".join(lines) + "\n" + extra + f"[run_presets]\nInterfaceBandwidth: {mode}\n").encode()
    if kind == "bytes":
        text += b"\xff" + draw(st.binary(max_size=32))
    return text


@fuzz(10)
@given(text=bad_scalesim_configs(), command=st.sampled_from(["config", "energy-table"]))
def test_hostile_scalesim_configs_fail_cleanly(text, command):
    with folder() as cwd:
        Path(cwd, "s.cfg").write_bytes(text)
        check_failure([command, "--scalesim-config", "s.cfg"], Path(cwd))


# -- damaged traces --------------------------------------------------------------------------
def _npy_header(shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``size`` zero bytes built from one repeated block (a bomb
    costs milliseconds, not a pass over its inflated size), and the stream's CRC-32."""
    block_size = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(block_size)) + compressor.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(size, block_size)
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    crc = 0
    zero_block = bytes(block_size)
    for _ in range(whole):
        crc = zlib.crc32(zero_block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return block * whole + tail, crc


def write_raw_zip(path: Path, members: list[tuple[str, int, int, int, bytes]]) -> Path:
    """A ZIP64 archive of ``(name, method, crc, inflated size, stored bytes)`` members, written
    byte by byte so that a member may be deflated without being inflated here first."""
    out = bytearray()
    central = bytearray()
    for name, method, crc, size, data in members:
        encoded = name.encode()
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(encoded), len(extra)) + encoded + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0o644 << 16,
                               offset) + encoded + extra
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                 start, 0)
    path.write_bytes(bytes(out))
    return path


def _stored(name: str, data: bytes) -> tuple[str, int, int, int, bytes]:
    return name, zipfile.ZIP_STORED, zlib.crc32(data), len(data), data


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _manifest(members: dict[str, bytes]) -> dict:
    return json.loads(np.load(io.BytesIO(members["manifest.npy"])).tobytes())


def _manifest_member(manifest, pad: int = 0) -> bytes:
    text = (json.dumps(manifest) if not isinstance(manifest, str) else manifest) + " " * pad
    return _npy_header((len(text.encode()),)) + text.encode()


LIES = {  # a manifest field → values it may not hold
    "images": [0, -1, SMALL_IMAGES + 1, 1 << 31, 1 << 62, 1.5, "4", None, True, 1e308],
    "version": [2, 0, "1", 1.0, None],
    "format": ["accelsim-gate-trace ", None, 1],
    "layers": [[], {}, None, "x", [1], [{}]],
    "accuracy": [2, -0.1, "high", float("nan")],
    "provenance": [[], "x", None],
    "network": [1, []],
}
LAYER_LIES = {"out_channels": [0, -16, 1 << 40, 15, 17, 16.0, "16"], "out_h": [0, 33, 1 << 31],
              "in_channels": [0, 3], "gate_groups": [0, 3, 1 << 20, -4], "base_fraction": [0, 1.5, "x", None],
              "kernel_h": [0, 1000], "stride": [0, -1], "name": ["", "a/b", "\n", 3, "layer1.0.conv2"],
              "thresholds": [[1.0], "x", [None] * 16], "padding_h": [-1, 1 << 40], "extra": [1]}


@st.composite
def damages(draw):
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "bomb", "manifest", "layer", "member", "oversized"]))
    if kind == "flip":
        return kind, draw(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                   min_size=1, max_size=4))
    if kind == "truncate":
        return kind, draw(st.floats(0, 1, exclude_max=True))
    if kind == "bomb":
        return kind, (draw(st.sampled_from(["manifest.npy", "gates/layer1.0.conv1.npy", "gates/extra.npy"])),
                      draw(st.sampled_from([64 << 20, 256 << 20, 1 << 30])))
    if kind == "manifest":
        field = draw(st.sampled_from(sorted(LIES)))
        return kind, (field, draw(st.sampled_from(LIES[field])))
    if kind == "layer":
        field = draw(st.sampled_from(sorted(LAYER_LIES)))
        return kind, (draw(st.integers(0, 17)), field, draw(st.sampled_from(LAYER_LIES[field])))
    if kind == "member":
        return kind, draw(st.sampled_from(["drop", "duplicate", "wrong dtype", "fortran", "short", "long",
                                           "not npy", "json junk", "deep json", "nan json", "duplicate key"]))
    return kind, draw(st.sampled_from([8 << 20, (8 << 20) + 1]))


def damage(source: Path, target: Path, how) -> bool:
    """Write a damaged copy of ``source``; returns whether the damage surely makes it invalid."""
    kind, detail = how
    if kind == "flip":
        data = bytearray(source.read_bytes())
        for where, xor in detail:
            data[int(where * len(data))] ^= xor
        target.write_bytes(bytes(data))
        return False
    if kind == "truncate":
        data = source.read_bytes()
        target.write_bytes(data[:int(detail * len(data))])
        return True
    members = _members(source)
    manifest = _manifest(members)
    if kind == "bomb":
        name, size = detail
        stream, crc = _deflated_zeros(size)
        rest = [_stored(key, value) for key, value in members.items() if key != name]
        write_raw_zip(target, rest + [(name, zipfile.ZIP_DEFLATED, crc, size, stream)])
        return True
    if kind == "manifest":
        field, value = detail
        manifest[field] = value
        members["manifest.npy"] = _manifest_member(manifest)
    elif kind == "layer":
        index, field, value = detail
        truth = manifest["layers"][index].get(field, object())
        if type(truth) is type(value) and truth == value:  # the "lie" is the truth (e.g. its own name)
            target.write_bytes(source.read_bytes())
            return False
        manifest["layers"][index][field] = value
        members["manifest.npy"] = _manifest_member(manifest)
    elif kind == "oversized":
        members["manifest.npy"] = _manifest_member(manifest, pad=detail)
    else:
        gate = "gates/layer1.0.conv1.npy"
        if detail == "drop":
            del members[gate]
        elif detail == "duplicate":
            write_raw_zip(target, [_stored(k, v) for k, v in members.items()] + [_stored(gate, members[gate])])
            return True
        elif detail == "wrong dtype":
            members[gate] = _npy_header((SMALL_IMAGES, 512)).replace(b"|u1", b"<i2") + bytes(SMALL_IMAGES * 512)
        elif detail == "fortran":
            members[gate] = members[gate].replace(b"'fortran_order': False", b"'fortran_order': True ")
        elif detail == "short":
            members[gate] = members[gate][:-1]
        elif detail == "long":
            members[gate] = members[gate] + b"\x00"
        elif detail == "not npy":
            members[gate] = b"PK\x03\x04 not an array"
        elif detail == "json junk":
            members["manifest.npy"] = _manifest_member('{"format": ')
        elif detail == "deep json":
            members["manifest.npy"] = _manifest_member("[" * 100_000 + "]" * 100_000)
        elif detail == "nan json":
            members["manifest.npy"] = _manifest_member(json.dumps(manifest).replace('"accuracy": null', '"accuracy": NaN')
                                                       .replace('"accuracy": 0.', '"accuracy": NaN, "x": 0.'))
        elif detail == "duplicate key":
            members["manifest.npy"] = _manifest_member(json.dumps(manifest)[:-1] + ', "images": 4}')
    write_raw_zip(target, [_stored(k, v) for k, v in members.items()])
    return True


@fuzz(20)
@given(how=damages(), command=st.sampled_from(["trace validate", "trace validate", "trace info", "run", "synth"]))
def test_damaged_traces_fail_cleanly(small_trace, how, command):
    with folder() as cwd:
        surely_bad = damage(small_trace, Path(cwd, "t.npz"), how)
        args = {"trace validate": ["trace", "validate", "t.npz"], "trace info": ["trace", "info", "--json", "t.npz"],
                "run": ["run", "t.npz", "--images", "0:1", "--calibration", "1:2", "--out", "o", "--quiet"],
                "synth": ["trace", "synth", "--fit", "t.npz", "--out", "s.npz", "--images", "1", "--quiet"]}[command]
        check_failure(args, Path(cwd), allow_success=not surely_bad, several_lines=command == "trace validate",
                      outputs=("o", "s.npz"))


# -- the cases the limits were written for ---------------------------------------------------
# (those that are safe in-process, e.g. clock_mhz = 0 or nan, a bandwidth of 1e-300, --images
# past the end, names with line breaks, are rows of tests/test_bad_input.py; these read endless
# or huge inputs, which only a subprocess under the limits can)
@pytest.mark.parametrize("option", ["--config", "--scalesim-config", "--topology"])
def test_dev_zero_and_fifos_as_inputs(option):
    with folder() as cwd:
        os.mkfifo(Path(cwd, "fifo"))
        for path in ("/dev/zero", "fifo", "."):
            workload = ["--network", "resnet20"] if option != "--topology" else []
            result = check_failure(["run", *workload, option, path, "--out", "o"], Path(cwd))
            assert b"cannot be read (not a regular file)" in result.stderr


def test_fifo_and_device_as_trace():
    with folder() as cwd:
        os.mkfifo(Path(cwd, "fifo"))
        for args in (["trace", "validate", "/dev/zero"], ["trace", "info", "fifo"], ["run", "fifo", "--out", "o"],
                     ["sweep", "/dev/zero", "--out", "o"]):
            result = check_failure(args, Path(cwd))
            assert b"cannot be read (not a regular file)" in result.stderr


def test_four_megabyte_zip_bomb(small_trace):
    """A 4 MB trace whose layer member inflates to 4 GiB: refused from the ZIP directory."""
    with folder() as cwd:
        members = _members(small_trace)
        gate = "gates/layer1.0.conv1.npy"
        stream, crc = _deflated_zeros(4 << 30)
        manifest = _manifest(members)
        manifest["images"] = (4 << 30) // 512
        rest = [_stored("manifest.npy", _manifest_member(manifest))]
        path = write_raw_zip(Path(cwd, "bomb.npz"), rest + [(gate, zipfile.ZIP_DEFLATED, crc, 4 << 30, stream)])
        assert 3 << 20 < path.stat().st_size < 6 << 20
        for args in (["trace", "validate", "bomb.npz"], ["trace", "info", "bomb.npz"],
                     ["run", "bomb.npz", "--out", "o"]):
            result = check_failure(args, Path(cwd))
            assert b"more than 100 times" in result.stderr


def test_a_real_run_fits_the_limits(small_trace):
    """The limits leave room for real work: a run, and the shipped trace's validation."""
    with folder() as cwd:
        result = accelsim(["run", str(small_trace), "--images", "0:2", "--calibration", "2:4", "--quiet"], Path(cwd))
        assert result.returncode == 0, result.stderr.decode()
        shipped = Path(__file__).resolve().parent.parent / "traces" / "resnet20-fmnist.npz"
        if shipped.is_file():
            result = accelsim(["trace", "validate", str(shipped)], Path(cwd))
            assert result.returncode == 0, result.stderr.decode()
        assert _files(Path(cwd)) == set()


def test_errors_escape_what_is_not_printable():
    from accelsim.errors import ConfigError, UnknownNameError

    assert str(ConfigError("a\nb\x1b × c")) == "a\\nb\\x1b × c"
    assert str(UnknownNameError("unknown network 'x\ny'")) == "unknown network 'x\\ny'"
    assert str(ConfigError("plain")) == "plain"


@pytest.mark.heavy
def test_plotting_a_whole_default_run_fits_in_one_and_a_half_gigabytes(tmp_path):
    """`accelsim plot` of the default run's tables (240 images, every scheduler) under an
    address-space limit of 1.5 GB: Arrow's default pool alone would reserve a GiB."""
    from accelsim.cli import main

    assert main(["run", "--out", str(tmp_path / "run"), "--quiet"]) == 0

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))

    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    result = subprocess.run([*CLI, "plot", str(tmp_path / "run"), "--out", str(tmp_path / "figures")],
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=limit, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "figures" / "timeline.png").is_file()


def test_running_out_of_memory_is_one_line(monkeypatch, capsys):
    import accelsim.cli as cli
    import accelsim.cli.networks as networks

    def exhausted(args):
        raise MemoryError

    monkeypatch.setattr(networks, "command", exhausted)
    assert cli.main(["networks"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("accelsim: error: out of memory")
