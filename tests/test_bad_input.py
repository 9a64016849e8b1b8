"""Bad input, one table per interface.

``CLI_CASES``: command lines that ``accelsim.cli.main`` must refuse with exit status 2, nothing on
stdout, exactly one printable line on stderr that starts with ``accelsim: error:`` and names the
file, the field and what was expected, no traceback, and nothing written: the working folder
(``tmp_path``, where every case writes) holds exactly what it held before. A row may add a check
of its own (a special file kept, a folder left empty, a refusal that is quick).

``LIBRARY_CASES``: the same through the library (config loaders, ``open_trace`` on damaged
traces, sweep grids): the library's exception, with a message that names the field.

The hypothesis fuzzers stay beside what they fuzz (test_fuzz.py, test_trace_robustness.py), and
so do the cases that only a subprocess under memory and time limits can run safely (/dev/zero,
FIFOs and a zip bomb as inputs, in test_fuzz.py).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim import DEFAULT_CONFIG, ConfigError, TraceError, load_config, load_scalesim_config
from accelsim.cli import main
from accelsim.config import parse_array
from accelsim.sweep import SweepError, grid, load_grid
from accelsim.trace import TraceInfo, TraceLayer, write_trace
from test_config import SCALESIM_CFG
from test_failures import (  # noqa: F401 (trace, swept and run_results are fixtures)
    SWEEP, damage_binary, damage_cut_at_a_row, damage_cut_mid_row, damage_empty, run_results, swept, trace)
from test_trace_robustness import manifest_of, members_of, npy, read_everything, with_manifest, write_members
from test_write_targets import SPECIAL_FILES, TOPOLOGY, WRITERS, target_of

PREFIX = "accelsim: error: "


# -- what the rows are given -------------------------------------------------------------------
class Ctx:
    """What a row builds its input from: the test's folder (also the working folder), the
    fixtures it asks for, and what it keeps for its own check."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
        self.tmp, self.request, self.monkeypatch = tmp, request, monkeypatch
        self.seconds = None  # how long main() took

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)

    @property
    def trace(self) -> Path:
        """The session's 5-image ResNet-20 trace (tests/conftest.py)."""
        return self.fixture("small_trace")

    @property
    def short(self) -> str:
        """A 2-image ResNet-20 trace: image ranges past 0:2 are refused."""
        return str(self.fixture("trace"))

    def path(self, *parts: str) -> str:
        return str(self.tmp.joinpath(*parts))

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under ``folder`` (hidden ones included), with what would change if it were written."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            found[os.path.relpath(path, folder)] = (info.st_mode, info.st_ino, info.st_size,
                                                    None if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns)
    return found


# -- the command line --------------------------------------------------------------------------
@dataclass(frozen=True)
class Cli:
    argv: Callable[[Ctx], list[str]]
    expect: str | tuple[str, ...] | Callable[[Ctx], tuple[str, ...]]  # fragments of the one line
    check: Callable[[Ctx], bool] | None = None


def cli(id, argv, expect, check=None, marks=()):
    return pytest.param(Cli(argv, expect, check), id=id, marks=marks)


BAD_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
           "Num Filter, Strides,\nconv1, 8, 8, 3, 3, 3, 8, 1,\nconv2, 8, 8, 3, three, 3, 8, 1,\n")


def run(*args):
    """``accelsim run ARGS --out <tmp>/out``."""
    return lambda c: ["run", *(arg(c) if callable(arg) else arg for arg in args), "--out", c.path("out")]


RUN_CASES = [
    cli("unknown network", run("--network", "resnet50"), "unknown network 'resnet50'; expected one of"),
    cli("unknown dataflow", run("--dataflow", "rs"), "--dataflow: expected one of os, ws, is, got 'rs'"),
    cli("unknown timing", run("--timing", "fast"), "physical, scalesim, got 'fast'"),
    cli("array 0x4", run("--array", "0x4"), "--array: expected ROWSxCOLS with integers from 1 to 65536"),
    cli("array abc", run("--array", "abc"), "--array: expected ROWSxCOLS"),
    cli("malformed csv row", run("--topology", lambda c: str(c.write("bad.csv", BAD_CSV))),
        "bad.csv:3: Filter Width: expected a positive integer, got 'three'"),
    cli("config key of wrong type", run("--config", lambda c: str(c.write("bad.toml", 'array_rows = "many"\n'))),
        "bad.toml: array_rows: expected an integer from 1 to 65536, got 'many'"),
    cli("missing topology", run("--topology", lambda c: c.path("none.csv")), "none.csv: no such file"),
    cli("missing config", run("--config", lambda c: c.path("none.toml")), "none.toml: no such file"),
    cli("missing scalesim config", run("--scalesim-config", lambda c: c.path("none.cfg")), "none.cfg: no such file"),
    cli("two workloads", run("--network", "resnet18", "--topology", "x.csv"), "not allowed with argument"),
    cli("unknown option", run("--arrray", "8x8"), "unrecognized arguments: --arrray"),
    cli("empty network", run("--network", ""), "argument --network: expected a non-empty value"),
    cli("empty config", run("--config", ""), "argument --config: expected a non-empty value"),
    cli("config is a directory", run("--config", lambda c: str(c.tmp)), "cannot be read"),
    cli("superscript array", run("--array", "\u00b2x4"), "--array: expected ROWSxCOLS"),
    cli("huge array", run("--array", "4611686018427387904x4"), "--array: expected ROWSxCOLS"),
    cli("empty out", lambda c: ["run", "--out", ""], "argument --out: expected a non-empty value"),
    cli("out is a file", lambda c: ["run", "--quiet", "--out", str(c.write("taken", "x"))],
        "cannot write the results", check=lambda c: (c.tmp / "taken").read_text() == "x"),
    cli("energy-table --timing", lambda c: ["energy-table", "--timing", "physical"],
        "unrecognized arguments: --timing"),
]

GENERATED_OPTION_CASES = [
    cli(f"{command} {option}={value}",
        lambda c, command=command, option=option, value=value: [
            command, f"{option}={value}", *(["--network", "resnet20", "--out", c.path("o")] if command == "run" else [])],
        message)
    for command in ("config", "run")
    for option, value, message in [
        ("--ofmap-kb", "0", "--ofmap-kb: expected a positive number"),
        ("--ifmap-kb", "1e300", "--ifmap-kb: expected a number from"),
        ("--clock-mhz", "fast", "argument --clock-mhz: expected a number, got 'fast'"),
        ("--bandwidth", "nan", "--bandwidth: expected a positive number or inf"),
        ("--gate-latency", "1.5", "argument --gate-latency: expected an integer, got '1.5'"),
        ("--gate-latency", "-1", "--gate-latency: expected an integer from 0"),
        ("--fallback", "sometimes", "--fallback: expected one of calibrated, off, got 'sometimes'"),
        ("--energy-profile", "mine", "--energy-profile: expected one of accelergy45, horowitz45"),
        ("--dram-type", "DDR9", "--dram-type: expected one of LPDDR4"),
        ("--technology-nm", "3", "--technology-nm: expected one of"),
    ]
]

# the cases the limits of docs/limits.md were written for, and names that must stay on one line
LIMIT_CASES = [
    *(case for clock in ("0", "nan") for case in [
        cli(f"config clock_mhz = {clock}",
            lambda c, clock=clock: ["run", "--network", "resnet20", "--config",
                                    str(c.write("hw.toml", f"clock_mhz = {clock}\n")), "--out", "o"],
            "hw.toml: clock_mhz: expected a positive number"),
        cli(f"plot --clock-mhz={clock}", lambda c, clock=clock: ["plot", "results", "--out", "figures",
                                                                 f"--clock-mhz={clock}"],
            f"argument --clock-mhz: expected a positive number, got '{clock}'"),
        cli(f"run --clock-mhz={clock}", lambda c, clock=clock: ["run", "--network", "resnet20", f"--clock-mhz={clock}",
                                                                "--out", "o"],
            "--clock-mhz: expected a positive number"),
    ]),
    cli("tiny bandwidth", lambda c: ["run", "--network", "resnet20", "--config",
                                     str(c.write("hw.toml", "dram_bandwidth_bytes_per_cycle = 1e-300\n")), "--out", "o"],
        "dram_bandwidth_bytes_per_cycle: expected a number from 1e-06"),
    *(cli(f"one line: {' '.join(args[:-1])} {args[-1]!r}", lambda c, args=args: list(args), repr(args[-1])[1:-1])
      for args in (("config", "--config", "hw\n.toml"), ("run", "--network", "net\nwork\r"),
                   ("trace", "info", "a\u2028b.npz"), ("config", "--dataflow", "\x1b[2J"))),
]


# -- traces on the command line
def corrupt_copy(c):
    data = bytearray(c.trace.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a layer's bits
    return str(c.write("bad.npz", bytes(data)))


TRACE_CLI_CASES = [
    cli("trace validate: corrupt", lambda c: ["trace", "validate", corrupt_copy(c)], "bad.npz"),
    *(cli(f"trace {command}: not a trace", lambda c, command=command: ["trace", command, str(c.write("x.npz", "hello"))],
          "x.npz: not a gate trace") for command in ("info", "validate")),
]


# -- sweep and run folders, image ranges, grid sizes
def sweep(*args, out=("out",), taken=False):
    """``accelsim sweep`` of the 2-image trace into <tmp>/out (a file <tmp>/taken made first if asked)."""
    def argv(c):
        if taken:
            c.write("taken", "x")
        return ["sweep", c.short, *SWEEP, *args, "--out", c.path(*out)]
    return argv


def _locked(c):
    locked = c.tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    c.request.addfinalizer(lambda: locked.chmod(0o700))
    return ["sweep", c.short, *SWEEP, "--out", str(locked / "out")]


def _mkdir_refused(c):
    """As a read-only folder does for any user but root: the second mkdir is refused."""
    c.made = []
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if c.made:
            raise PermissionError(13, "Permission denied", str(self))
        c.made.append(self)
        return real_mkdir(self, *args, **kwargs)

    argv = ["sweep", c.short, *SWEEP, "--out", c.path("new", "out")]
    c.monkeypatch.setattr(Path, "mkdir", mkdir)
    return argv


def _trillion(c):
    values = ",".join(str(value) for value in range(1, 101))
    axes = [option for name in ("--bandwidth", "--ifmap-kb", "--filter-kb", "--ofmap-kb") for option in (name, values)]
    return ["sweep", c.short, "--array", ",".join(f"{n}x{n}" for n in range(1, 101)), *axes, "--quiet",
            "--out", c.path("out")]


ROOT_IGNORES_PERMISSIONS = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                                              reason="root ignores permissions")

SWEEP_CASES = [
    cli("sweep into a file", sweep(out=("taken",), taken=True),
        "taken: exists and is not a folder", check=lambda c: (c.tmp / "taken").read_text() == "x"),
    cli("sweep below a file", sweep(out=("taken", "deeper"), taken=True),
        "taken: exists and is not a folder"),
    cli("sweep into a read-only folder", _locked, "cannot write the sweep folder",
        check=lambda c: list((c.tmp / "locked").iterdir()) == [], marks=ROOT_IGNORES_PERMISSIONS),
    cli("sweep folder that cannot be made", _mkdir_refused, "cannot write the sweep folder (Permission denied)",
        check=lambda c: c.made and not (c.tmp / "new").exists()),
    cli("sweep checks everything before the folder", sweep("--images", "0:3"),
        "images: expected a non-empty range of images within 0:2, got 0:3"),
    cli("a trillion points", _trillion, "10,000,000,000 points, more than the limit of 100,000",
        check=lambda c: c.seconds < 10),
    cli("--max-points 1", sweep("--max-points", "1"), ("2 points, more than the limit of 1", "--max-points")),
    cli("--max-points 0", sweep("--max-points", "0"), "--max-points: expected a positive integer"),
    *(case for option, text in [("--images", "0:999999"), ("--images", "1:3"), ("--calibration", "0:3")]
      for message in [f"{option.removeprefix('--')}: expected a non-empty range of images within 0:2, got {text}"]
      for case in [
          cli(f"run {option} {text}", lambda c, o=option, t=text: ["run", c.short, o, t, "--quiet", "--out",
                                                                      c.path("run")], message),
          cli(f"sweep {option} {text}", sweep(option, text, out=("sweep",)), message)]),
]


# -- plot on damaged results
def header_only(path):
    path.write_text(path.read_text().splitlines()[0] + "\n")


def non_numeric(path):
    table = pd.read_csv(path)
    table["cycles_total"] = table["cycles_total"].astype(object)
    table.loc[1, "cycles_total"] = "many"
    table.to_csv(path, index=False)


def missing_column(path):
    pd.read_csv(path).drop(columns=["cycles_total"]).to_csv(path, index=False)


def infinite(path):
    table = pd.read_csv(path)
    table["cycles_total"] = table["cycles_total"].astype(float)
    table.loc[0, "cycles_total"] = float("inf")
    table.to_csv(path, index=False)


def plot_damaged(results, damage, which):
    def argv(c):
        folder = c.tmp / "results"
        shutil.copytree(c.fixture(results), folder)
        damage(folder / which)
        return ["plot", str(folder), "--out", c.path("figures")]
    return argv


PLOT_CASES = [
    *(cli(f"plot: {damage.__name__} {which}", plot_damaged("run_results", damage, which), message)
      for damage, which, message in [
          (header_only, "summary.csv", "summary.csv: no rows"),
          (header_only, "layers.csv", "layers.csv: no rows"),
          (damage_empty, "layers.csv", "layers.csv: empty"),
          (non_numeric, "summary.csv", "summary.csv: cycles_total: expected numbers, got 'many' in row 3"),
          (non_numeric, "layers.csv", "layers.csv: cycles_total: expected numbers, got 'many' in row 3"),
          (missing_column, "summary.csv", "summary.csv: cycles_total: missing"),
          (missing_column, "layers.csv", "layers.csv: cycles_total: missing"),
          (infinite, "layers.csv", "layers.csv: cycles_total: expected a finite number in row 2"),
          (damage_cut_mid_row, "layers.csv", "layers.csv: truncated"),
          (damage_cut_mid_row, "summary.csv", "summary.csv: truncated"),
          (damage_cut_at_a_row, "layers.csv", "layers.csv: 20 rows for scheduler dense, expected 40"),
          (damage_binary, "summary.csv", "summary.csv: "),
      ]),
    cli("plot: damaged sweep table", plot_damaged("swept", damage_cut_at_a_row, "results.csv"),
        ("results.csv: ", "rows for scheduler", "of point p")),
    cli("plot --clock-mhz nan", lambda c: ["plot", str(c.fixture("run_results")), "--out", c.path("x"),
                                           "--clock-mhz", "nan"], "--clock-mhz: expected a positive number"),
]


# -- special files at a write target (tests/test_write_targets.py)
def special_target(command, make):
    def argv(c):
        (c.tmp / "out").mkdir()
        c.target = target_of(c.tmp / "out", command)
        make(c.target)
        c.kept = os.lstat(c.target)
        return WRITERS[command](c.write("net.csv", TOPOLOGY), c.target)
    return argv


def special_target_kept(c):
    after = os.lstat(c.target)
    kept = (after.st_mode, after.st_ino) == (c.kept.st_mode, c.kept.st_ino)
    return kept and (not c.target.is_symlink() or c.target.with_name("target.txt").read_text() == "keep me")


WRITE_TARGET_CASES = [
    *(cli(f"{name} at {command}", special_target(command, make),
          lambda c: (f"{c.target}", "refusing to replace it"), check=special_target_kept)
      for command in WRITERS for name, make in SPECIAL_FILES.items()),
    cli("timeline in a missing folder",
        lambda c: ["run", "--topology", str(c.write("net.csv", TOPOLOGY)), "--timeline", c.path("no", "t.json")],
        "does not exist", check=lambda c: not (c.tmp / "no").exists()),
]

CLI_CASES = [*RUN_CASES, *GENERATED_OPTION_CASES, *LIMIT_CASES, *TRACE_CLI_CASES, *SWEEP_CASES, *PLOT_CASES,
             *WRITE_TARGET_CASES]


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_command_line(case, tmp_path, request, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a relative path is written here, where the snapshot looks
    c = Ctx(tmp_path, request, monkeypatch)
    argv = case.argv(c)
    expect = case.expect(c) if callable(case.expect) else case.expect
    before = snapshot(tmp_path)
    began = time.monotonic()
    status = main(argv)
    c.seconds = time.monotonic() - began
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    assert err.startswith(PREFIX) and err.endswith("\n") and err.count("\n") == 1, err
    assert err[:-1].isprintable(), err
    assert "Traceback" not in err
    for fragment in (expect,) if isinstance(expect, str) else expect:
        assert fragment in err, err
    assert snapshot(tmp_path) == before  # nothing written, nothing half-written, nothing replaced
    assert case.check is None or case.check(c)


# -- the library -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lib:
    build: Callable[[Ctx], Callable[[], object]]  # returns the call that must raise
    error: type[Exception]
    match: str  # a regular expression, as for pytest.raises
    check: Callable[[Exception], bool] | None = None


def lib(id, build, error, match, check=None):
    return pytest.param(Lib(build, error, match, check), id=id)


def loads(function, name, text, *args, **kwargs):
    """``function(<tmp>/name, *args, **kwargs)`` once ``text`` is written there."""
    def build(c):
        path = c.write(name, text)
        return lambda: function(path, *args, **kwargs)
    return build


def toml(text):
    return loads(load_config, "hw.toml", text)


def scalesim(text, **kwargs):
    return loads(load_scalesim_config, "s.cfg", text, **kwargs)


def calls(function, *args, **kwargs):
    """``function(*args, **kwargs)``, where an argument that is a function of the row's Ctx is its value."""
    return lambda c: lambda: function(*(arg(c) if callable(arg) else arg for arg in args), **kwargs)


CONFIG_CASES = [
    *(lib(f"toml {text!r}", toml(text), ConfigError, message) for text, message in [
        ("[energy]\nmac = -1\n", "energy.mac: expected a non-negative number"),
        ("[energy]\nmac = 'x'\n", "energy.mac: expected a non-negative number"),
        ('energy_profile = "cacti"\n', "energy_profile: expected one of accelergy45, horowitz45"),
        ('array_rows = "abc"\n', r"hw.toml: array_rows: expected an integer from 1 to 65536, got 'abc'"),
        ("array_rows = 8.0\n", "array_rows: expected an integer from 1 to 65536, got 8.0"),
        ("array_cols = true\n", "array_cols: expected an integer from 1 to 65536, got True"),
        ("ifmap_sram_kib = -1\n", "ifmap_sram_kib: expected a positive number, got -1"),
        ('dataflow = "rs"\n', "dataflow: expected one of os, ws, is, got 'rs'"),
        ('timing = "fast"\n', "timing: expected one of pipelined, physical, scalesim"),
        ("arrayrows = 8\n", "arrayrows: unknown key; expected one of: array_rows"),
        ("accumulator_bits = 4\n", "accumulator_bits: expected at least operand_bits"),
        ("array_rows = \n", "hw.toml: not valid TOML"),
        ("array_rows = 100000\n", "array_rows: expected an integer from 1 to 65536, got 100000"),
        ('dataflow = ["os"]\n', r"dataflow: expected one of os, ws, is, got \['os'\]"),
        ("clock_mhz = inf\n", "clock_mhz: expected a positive number, got inf"),
        ("dram_bandwidth_bytes_per_cycle = nan\n", "expected a positive number or inf, got nan"),
        ("[array]\nrows = 4\n", "array: unknown key"),
        ("array_slices = 3\n", r"array_slices: expected a divisor of array_cols \(32\) times the bands of rows "
                               r"\(32 / 32 = 1\), got 3"),
        ("slice_rows = 5\n", r"slice_rows: expected a divisor of array_rows \(32\) or 0, got 5"),
        ("ifmap_sram_banks = 2000\n", r"ifmap_sram_banks: 2000 banks \(given, or when 0 the banks the slices' streams "
                                       r"need\), beyond the 1024 of the CACTI table"),
        ("array_cols = 4096\narray_rows = 8\n", r"sram_port_bits: the ofmap SRAM needs 2048 banks"),
        ("slice_rows = 8\narray_slices = 2\n",
         r"array_slices: expected .* times the bands of rows \(32 / 8 = 4\), got 2"),
        ("slice_rows = 8\narray_slices = 12\n",
         r"array_slices: expected .* times the bands of rows \(32 / 8 = 4\), got 12"),
    ]),
    lib("latin-1 toml", loads(load_config, "latin1.toml", b"# caf\xe9\n"), ConfigError, "latin1.toml: cannot be read"),
    lib("toml is a folder", calls(load_config, lambda c: c.tmp), ConfigError, "cannot be read"),
    lib("scalesim config is a folder", calls(load_scalesim_config, lambda c: c.tmp), ConfigError, "cannot be read"),
    lib("missing toml", calls(load_config, lambda c: c.tmp / "none.toml"), ConfigError, "no such file"),
    *(lib(f"parse_array {text!r}", calls(parse_array, text), ConfigError, "--array: expected ROWSxCOLS")
      for text in ["0x4", "abc", "4x", "4x4x4", "-4x4", "4.5x4", "\u00b2x4", "99999999x4", ""]),
    lib("scalesim USER negative bandwidth",
        scalesim(SCALESIM_CFG.format(mode="USER").replace("Bandwidth : 10", "Bandwidth : -3")),
        ConfigError, "s.cfg: Bandwidth: expected a positive number, got -3"),
    *(lib(f"scalesim CALC bandwidth {value}",
          scalesim(SCALESIM_CFG.format(mode="CALC").replace("Bandwidth : 10", f"Bandwidth : {value}")),
          ConfigError, "s.cfg: Bandwidth") for value in ["0", "nan", "-3", "1e-300"]),
    lib("scalesim without architecture presets", scalesim("[general]\nrun_name = x\n"),
        ConfigError, r"s.cfg: no \[architecture_presets\] section"),
    lib("scalesim USER without bandwidth", scalesim(SCALESIM_CFG.format(mode="USER").replace("Bandwidth : 10", "")),
        ConfigError, "Bandwidth: expected a number when InterfaceBandwidth = USER"),
    *(lib(f"scalesim {new!r}", scalesim(SCALESIM_CFG.replace(old, new).replace("{mode}", "CALC")), ConfigError, message)
      for old, new, message in [
          ("ArrayHeight:    16", "ArrayHeight: sixteen", "s.cfg: ArrayHeight: expected an integer, got 'sixteen'"),
          ("ArrayHeight:    16", "ArrayHeight: 0", "s.cfg: ArrayHeight: expected an integer from 1 to 65536, got 0"),
          ("InterfaceBandwidth: {mode}", "InterfaceBandwidth: calc", "InterfaceBandwidth: expected CALC or USER"),
          ("Dataflow : ws", "Dataflow : rs", "s.cfg: Dataflow: expected one of os, ws, is, got 'rs'"),
          ("[general]", "general", "not a valid SCALE-Sim config"),
      ]),
    # a 24-row array cannot hold the base's slices of 16 rows (tests/test_config.py: the 16x64 one can)
    lib("scalesim sides against a sliced base",
        scalesim("[architecture_presets]\nArrayHeight = 24\nArrayWidth = 32\n",
                 base=DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16)),
        ConfigError, r"s.cfg: slice_rows: expected a divisor of array_rows \(24\) or 0, got 16"),
]

GRID_CASES = [
    lib("grid file of a million points",
        loads(load_grid, "grid.toml", "[axes]\n" + "\n".join(f"{field} = [{', '.join(str(v) for v in range(1, 101))}]"
              for field in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib")), DEFAULT_CONFIG), SweepError, r"grid.toml: 1,000,000 points, more than the limit of 100,000"),
    lib("grid of a million points",
        calls(grid, DEFAULT_CONFIG, {"ifmap_sram_kib": range(1, 1001), "filter_sram_kib": range(1, 1001)}),
        SweepError, "more than the limit"),
]


# -- damaged traces, read through open_trace
def damaged_trace(change_members=None, change_manifest=None, name="t.npz"):
    def build(c):
        members = members_of(c.trace)
        if change_manifest:
            manifest = manifest_of(members)
            change_manifest(manifest)
            members = with_manifest(members, manifest)
        if change_members:
            members = change_members(members)
        path = write_members(c.tmp / name, members)
        return lambda: read_everything(path)
    return build


def gate_as(member, change):
    def members(found):
        return {**found, member: npy(change(np.load(io.BytesIO(found[member]))))}
    return members


def drop(key):
    return lambda manifest: manifest.pop(key)


def drop_layer_key(key):
    return lambda manifest: manifest["layers"][4].pop(key)


def set_field(key, value):
    return lambda manifest: manifest.__setitem__(key, value)


def manifest_text(text):
    return lambda members: {**members, "manifest.npy": npy(np.frombuffer(text.encode(), np.uint8))}


def padding_bits(c):
    layer = TraceLayer("c", 3, 3, 3, 3, 1, 1, 1, 0, 0, 3, 3, 1, 1.0)  # 27 decisions: 5 spare bits
    path = write_trace(c.tmp / "t.npz", TraceInfo("m", "d", 2), [layer], {"c": np.ones((2, 3, 3, 3), bool)})
    members = members_of(path)
    packed = np.load(io.BytesIO(members["gates/c.npy"])).copy()
    packed[1, -1] |= 1
    members["gates/c.npy"] = npy(packed)
    write_members(path, members)
    return lambda: read_everything(path)


def repeated_member(c):
    path = c.tmp / "t.npz"
    path.write_bytes(c.trace.read_bytes())
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("gates/layer1.0.conv1.npy", npy(np.zeros((5, 2048), np.uint8)))
    return lambda: read_everything(path)


SHAPES = {"extra row": lambda p: np.vstack([p, p[:1]]), "missing row": lambda p: p[:-1],
          "extra column": lambda p: np.hstack([p, p[:, :1]]), "3-d": lambda p: p.reshape(p.shape[0], 2, -1),
          "fortran": np.asfortranarray}

TRACE_CASES = [
    *(lib(f"gate dtype {np.dtype(dtype)}",
          damaged_trace(gate_as("gates/layer2.1.conv2.npy", lambda p, dtype=dtype: p.astype(dtype))),
          TraceError, r"gates/layer2.1.conv2.npy: expected dtype uint8")
      for dtype in [np.int16, np.bool_, np.float32, np.int8]),
    *(lib(f"gate shape: {change}", damaged_trace(gate_as("gates/layer3.0.conv1.npy", reshape)),
          TraceError, r"gates/layer3.0.conv1.npy: expected shape \(5, 512\)") for change, reshape in SHAPES.items()),
    *(lib(f"manifest without {key}", damaged_trace(change_manifest=drop(key)), TraceError, rf"manifest.{key}: missing")
      for key in ["format", "version", "model", "dataset", "accuracy", "images", "provenance", "layers"]),
    *(lib(f"layer without {key}", damaged_trace(change_manifest=drop_layer_key(key)),
          TraceError, rf"layers\[4\]\.{key}: missing")
      for key in ["name", "in_channels", "out_channels", "in_h", "in_w", "kernel_h", "kernel_w", "stride",
                  "padding_h", "padding_w", "out_h", "out_w", "gate_groups", "base_fraction"]),
    *(lib(f"version {version!r}", damaged_trace(change_manifest=set_field("version", version)),
          TraceError, r"manifest.version: expected 1") for version in [0, 2, "1", 1.5, None, True, 1.0]),
    lib("padding bits set", padding_bits, TraceError, "padding bits after the last decision are not zero"),
    lib("extra member", damaged_trace(lambda m: {**m, "gates/stray.npy": npy(np.zeros((5, 2), np.uint8))}),
        TraceError, "gates/stray.npy: member not described in the manifest"),
    lib("manifest not JSON", damaged_trace(manifest_text("{oops")), TraceError, "manifest: not valid UTF-8 JSON"),
    *(lib(f"hostile manifest {text[:12]!r}", damaged_trace(manifest_text(text)), TraceError, message)
      for text, message in [
          ('{"format": 1, "format": 2}', "key 'format' appears twice"),
          ("[" * 100_000, "manifest: not valid UTF-8 JSON"),
          ('{"x": ' + "9" * 5000 + "}", "manifest: not valid UTF-8 JSON"),
          ('{"x": NaN}', "NaN is not a JSON number"),
          ("\ufeff{}", "manifest: not valid UTF-8 JSON"),
      ]),
    lib("huge thresholds",
        damaged_trace(change_manifest=lambda m: m["layers"][0].__setitem__("thresholds", [10**400] * 16)),
        TraceError, "thresholds: expected null or a list of 16 finite numbers"),
    lib("layer name not printable", damaged_trace(change_manifest=lambda m: m["layers"][0].__setitem__("name", "a\nb")),
        TraceError, r"expected a non-empty printable name", check=lambda error: "\n" not in str(error)),
    lib("repeated member", repeated_member, TraceError, "gates/layer1.0.conv1.npy: member appears twice"),
]

LIBRARY_CASES = [*CONFIG_CASES, *GRID_CASES, *TRACE_CASES]


# SCALE-Sim configs note that their DRAM answers in one cycle (checked in test_config.py)
@pytest.mark.filterwarnings("ignore:.*SCALE-Sim's DRAM answers in one cycle")
@pytest.mark.parametrize("case", LIBRARY_CASES)
def test_bad_library_input(case, tmp_path, request, monkeypatch):
    call = case.build(Ctx(tmp_path, request, monkeypatch))
    with pytest.raises(case.error, match=case.match) as caught:
        call()
    assert case.check is None or case.check(caught.value)


def test_case_ids_are_unique():
    ids = [case.id for case in CLI_CASES + LIBRARY_CASES]
    assert len(ids) == len(set(ids))
