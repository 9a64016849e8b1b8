"""The accelsim command: outputs, --quiet, and one clear line with exit status 2 on bad input."""

import subprocess
import sys

import pandas as pd
import pytest

from accelsim import LAYER_COLUMNS
from accelsim.cli import main

REQUIRED_COLUMNS = ["layer", "scheduler", "dataflow", "array_rows", "array_cols", "M", "N", "K",
                    "folds", "macs_dense", "macs_executed", "cycles_compute", "cycles_stall",
                    "cycles_total", "pe_utilization", "mapping_efficiency", "speedup_vs_dense"]


def test_run_writes_tables_and_prints_a_report(tmp_path, capsys):
    status = main(["run", "--network", "resnet18", "--array", "32x32", "--dataflow", "os",
                   "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 0 and err == ""
    assert "resnet18 on a 32x32 OS array" in out and "layer4.0.downsample.0" in out and "TOTAL" in out
    layers = pd.read_csv(tmp_path / "layers.csv")
    assert set(REQUIRED_COLUMNS) <= set(layers.columns)
    assert list(layers.columns) == list(LAYER_COLUMNS)
    assert len(layers) == 21 and (layers["scheduler"] == "dense").all()
    assert (layers["cycles_stall"] >= 0).all()
    assert (layers["cycles_total"] == layers["cycles_compute"] + layers["cycles_stall"]).all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["cycles_total"].iloc[0] == layers["cycles_total"].sum()
    assert f"{summary['cycles_total'].iloc[0]:,}" in out


def test_quiet_prints_nothing(tmp_path, capsys):
    assert main(["run", "--quiet", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "layers.csv").exists()


def test_config_command_prints_toml(capsys):
    assert main(["config", "--array", "8x16", "--dataflow", "is"]) == 0
    out = capsys.readouterr().out
    assert "array_rows = 8" in out and "array_cols = 16" in out and 'dataflow = "is"' in out


def test_overrides_apply_on_top_of_a_config_file(tmp_path, capsys):
    (tmp_path / "hw.toml").write_text('array_rows = 4\ndataflow = "ws"\n')
    assert main(["config", "--config", str(tmp_path / "hw.toml"), "--dataflow", "is"]) == 0
    out = capsys.readouterr().out
    assert "array_rows = 4" in out and 'dataflow = "is"' in out


def test_networks_command(capsys):
    assert main(["networks"]) == 0
    assert "resnet20-fmnist" in capsys.readouterr().out


BAD_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
           "Num Filter, Strides,\nconv1, 8, 8, 3, 3, 3, 8, 1,\nconv2, 8, 8, 3, three, 3, 8, 1,\n")


def bad_inputs(tmp):
    (tmp / "bad.csv").write_text(BAD_CSV)
    (tmp / "bad.toml").write_text('array_rows = "many"\n')
    return {
        "unknown network": (["--network", "resnet50"], "unknown network 'resnet50'; expected one of"),
        "unknown dataflow": (["--dataflow", "rs"], "--dataflow: expected one of os, ws, is, got 'rs'"),
        "unknown timing": (["--timing", "fast"], "physical, scalesim, got 'fast'"),
        "array 0x4": (["--array", "0x4"], "--array: expected ROWSxCOLS with integers from 1 to 65536"),
        "array abc": (["--array", "abc"], "--array: expected ROWSxCOLS"),
        "malformed csv row": (["--topology", str(tmp / "bad.csv")],
                              "bad.csv:3: Filter Width: expected a positive integer, got 'three'"),
        "config key of wrong type": (["--config", str(tmp / "bad.toml")],
                                     "bad.toml: array_rows: expected an integer from 1 to 65536, got 'many'"),
        "missing topology": (["--topology", str(tmp / "none.csv")], "none.csv: no such file"),
        "missing config": (["--config", str(tmp / "none.toml")], "none.toml: no such file"),
        "missing scalesim config": (["--scalesim-config", str(tmp / "none.cfg")], "none.cfg: no such file"),
        "two workloads": (["--network", "resnet18", "--topology", "x.csv"], "not allowed with argument"),
        "unknown option": (["--arrray", "8x8"], "unrecognized arguments: --arrray"),
        "empty network": (["--network", ""], "argument --network: expected a non-empty value"),
        "empty config": (["--config", ""], "argument --config: expected a non-empty value"),
        "config is a directory": (["--config", str(tmp)], "cannot be read"),
        "superscript array": (["--array", "\u00b2x4"], "--array: expected ROWSxCOLS"),
        "huge array": (["--array", "4611686018427387904x4"], "--array: expected ROWSxCOLS"),
    }


BAD_CASES = ["unknown network", "unknown dataflow", "unknown timing", "array 0x4", "array abc",
             "malformed csv row", "config key of wrong type", "missing topology", "missing config",
             "missing scalesim config", "two workloads", "unknown option", "empty network",
             "empty config", "config is a directory", "superscript array", "huge array"]


def test_bad_case_list_is_complete(tmp_path):
    assert sorted(BAD_CASES) == sorted(bad_inputs(tmp_path))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
    args, message = bad_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    status = main(["run", *args, "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("accelsim: error: ")
    assert message in err
    assert "Traceback" not in err
    assert not out_dir.exists()  # nothing half-written


def test_console_script_exit_status_and_single_line(tmp_path):
    """The installed command, in a fresh process: status 2, one line, no traceback."""
    result = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", "--array", "abc"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "accelsim: error: --array: expected ROWSxCOLS with integers from 1 to 65536 (e.g. 32x32), got 'abc'"]


def test_empty_out_is_an_error(capsys):
    assert main(["run", "--out", ""]) == 2
    assert "argument --out: expected a non-empty value" in capsys.readouterr().err


def test_out_that_is_a_file_is_an_error(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["run", "--quiet", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the results" in err


def test_layer_of_zero_cycles_under_scalesim(tmp_path, capsys):
    """SCALE-Sim counts a 1-cycle OS fold minus 1 as 0 cycles; the report must not divide by it."""
    (tmp_path / "g.csv").write_text("Layer, M, N, K,\ng, 1, 1, 1,\n")
    (tmp_path / "ideal.toml").write_text("dram_bandwidth_bytes_per_cycle = inf\n")
    assert main(["run", "--topology", str(tmp_path / "g.csv"), "--array", "1x1", "--timing",
                 "scalesim", "--config", str(tmp_path / "ideal.toml"), "--out", str(tmp_path / "o")]) == 0
    layers = pd.read_csv(tmp_path / "o" / "layers.csv")
    assert layers["cycles_total"].tolist() == [0]
    assert layers["pe_utilization"].isna().all()


def test_closed_pipe_is_not_an_error():
    result = subprocess.run(f"{sys.executable} -m accelsim.cli run --network resnet18 | head -1",
                            shell=True, capture_output=True, text=True)
    assert result.stdout.startswith("resnet18 on a 32x32 OS array")
    assert result.stderr == ""
