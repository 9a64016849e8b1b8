"""The accelsim command: outputs, --quiet, options and help. Bad command lines (one clear line,
exit status 2) are the table of tests/test_bad_input.py."""

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
    assert main(["run", "--quiet", "--images", "0:4", "--calibration", "0:4", "--out", str(tmp_path)]) == 0
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


def test_console_script_exit_status_and_single_line(tmp_path):
    """The installed command, in a fresh process: status 2, one line, no traceback (main's
    answer to each bad command line is tested in tests/test_bad_input.py)."""
    result = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", "--array", "abc"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "accelsim: error: --array: expected ROWSxCOLS with integers from 1 to 65536 (e.g. 32x32), got 'abc'"]


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


# -- hardware options generated from the config's fields ---------------------------------------
from accelsim.cli import ENERGY_FIELDS, field_options  # noqa: E402

GENERATED = [f"--{option}" for option in field_options()]


def _help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "sweep", "config"])
def test_every_config_field_is_an_option(command, capsys):
    text = _help(command, capsys)
    assert {"--ifmap-kb", "--ofmap-kb", "--bandwidth", "--clock-mhz", "--energy-profile", "--timing",
            "--gate-latency", "--fallback", "--array", "--dataflow"} <= set(GENERATED)
    assert all(option in text for option in GENERATED)
    assert "pipelined|physical|scalesim" in text and "calibrated|off" in text and "accelergy45|horowitz45" in text


def test_energy_table_takes_only_what_it_reads(capsys):
    text = _help("energy-table", capsys)
    assert all(option in text for option in field_options(ENERGY_FIELDS))
    assert "--timing" not in text and "--fallback" not in text and "--bandwidth" not in text
    assert main(["energy-table", "--dram-type", "HBM2", "--sram-port-bits", "128"]) == 0
    assert "128-bit SRAM ports" in capsys.readouterr().out


def test_scheduler_and_network_names_in_help(capsys):
    text = " ".join(_help("run", capsys).split())
    assert "pixel-skip" in text and "balanced-oracle" in text and "vgg16-cifar" in text


def test_generated_options_reach_the_config(tmp_path, capsys):
    assert main(["config", "--ofmap-kb", "128", "--clock-mhz", "500", "--gate-latency", "0", "--fallback", "off",
                 "--bandwidth", "inf", "--energy-profile", "horowitz45", "--dram-latency", "7"]) == 0
    out = capsys.readouterr().out
    for line in ("ofmap_sram_kib = 128.0", "clock_mhz = 500.0", "gate_latency_cycles = 0", 'fallback = "off"',
                 "dram_bandwidth_bytes_per_cycle = inf", 'energy_profile = "horowitz45"', "dram_latency_cycles = 7"):
        assert line in out
    # they override a config file, as --array does
    (tmp_path / "hw.toml").write_text(out)
    assert main(["config", "--config", str(tmp_path / "hw.toml"), "--ofmap-kb", "16"]) == 0
    again = capsys.readouterr().out
    assert "ofmap_sram_kib = 16.0" in again and "clock_mhz = 500.0" in again


def test_readme_command_line_lists_the_options():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("## Command line", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    assert all(option in block for option in GENERATED)


# -- progress bar ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    from accelsim import get_network
    from accelsim.trace import as_trace_layer, gateable_layers, synthesize

    network = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(network)]
    return synthesize(tmp_path_factory.mktemp("bar") / "t.npz", network, layers, 3,
                      {layer.name: 0.3 for layer in layers}, seed=2)


def _run_traced(trace, *extra):
    return main(["run", str(trace), "--scheduler", "pixel-skip", "--array", "16x16", *extra])


def test_progress_bar_only_on_a_terminal(small_trace, capsys, monkeypatch):
    assert _run_traced(small_trace) == 0  # capsys's stderr is not a terminal
    out, err = capsys.readouterr()
    assert err == "" and "pixel-skip" in out
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _run_traced(small_trace) == 0
    assert "3/3" in capsys.readouterr().err
    assert _run_traced(small_trace, "--quiet") == 0
    assert capsys.readouterr() == ("", "")


def test_every_option_has_help():
    import argparse

    from accelsim.cli import build_parser

    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, sub in action.choices.items():
                    walk(sub, f"{name} {command}")
            elif not action.help:
                missing.append(f"{name} {action.option_strings or action.dest}")
    walk(build_parser(), "accelsim")
    assert missing == []


def test_a_sliced_run_says_what_it_leaves_free(tmp_path, capsys):
    """SRAMs banked to what the slices stream (never a wait) or the idealised model are said
    beside the result; a run with banks given, or one array, says nothing of it."""
    base = ["run", "--network", "resnet20", "--out", str(tmp_path / "o")]
    notes = {}
    for name, extra in {"sliced": ["--slices", "4"], "banked": ["--slices", "4", "--ifmap-sram-banks", "8",
                                                               "--filter-sram-banks", "8"],
                        "ideal": ["--costs", "ideal"], "one array": []}.items():
        assert main([*base, *extra]) == 0
        notes[name] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("accelsim: note:")]
    assert any("have the banks their streams need (ifmap 16, filter 4" in line for line in notes["sliced"])
    assert any("costs = ideal" in line for line in notes["ideal"])
    assert not any("banks" in line or "costs" in line for line in notes["banked"] + notes["one array"])
