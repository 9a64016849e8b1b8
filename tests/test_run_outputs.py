"""`accelsim run --out`: a folder that says what produced it and reproduces its own tables."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import accelsim
from accelsim.cli import DEFAULT_TRACE, main
from accelsim.config import DEFAULT_CONFIG, FIELD_NAMES, load_config
from accelsim.sweep import file_digest, network_digest
from accelsim.workload import get_network, load_topology

TOPOLOGY = "tests/data/scalesim/os_8x8/topology.csv"
GATED = ["--images", "0:2", "--calibration", "2:4", "--scheduler", "pixel-skip,balanced"]


def _partials(folder):
    return [path.name for path in folder.rglob("*.partial")]


def test_config_toml_is_the_config_in_force_and_summary_carries_it(tmp_path):
    (tmp_path / "hw.toml").write_text('ifmap_sram_kib = 32.0\ndram_bandwidth_bytes_per_cycle = inf\n'
                                      '[energy]\nmac = 0.5\n')
    out = tmp_path / "out"
    assert main(["run", "--network", "resnet20", "--config", str(tmp_path / "hw.toml"), "--array", "16x8",
                 "--dataflow", "ws", "--timing", "physical", "--out", str(out), "--quiet"]) == 0
    expected = load_config(tmp_path / "hw.toml").replace(array_rows=16, array_cols=8, dataflow="ws",
                                                          timing="physical")
    assert load_config(out / "config.toml") == expected
    summary = pd.read_csv(out / "summary.csv")
    assert set(FIELD_NAMES) <= set(summary.columns)
    row = summary.iloc[0]
    assert (row["array_rows"], row["dataflow"], row["ifmap_sram_kib"]) == (16, "ws", 32.0)
    assert row["dram_bandwidth_bytes_per_cycle"] == float("inf") and row["energy_overrides"] == "{'mac': 0.5}"
    assert _partials(out) == []


def test_run_json_records_what_decided_the_tables(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(DEFAULT_TRACE), *GATED, "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "run.json").read_text())
    network = get_network("resnet20-fmnist")
    assert record["accelsim_version"] == accelsim.__version__
    assert record["command"] == ["accelsim", "run", str(DEFAULT_TRACE), *GATED, "--out", str(out), "--quiet"]
    assert record["network"] == {"name": network.name, "layers": len(network), "macs_per_image": network.macs,
                                 "sha256": network_digest(network)}
    assert record["trace"] == {"path": str(DEFAULT_TRACE.resolve()), "sha256": file_digest(DEFAULT_TRACE)}
    assert record["topology"] is None
    assert (record["images"], record["calibration"]) == ("0:2", "2:4")
    assert record["schedulers"] == ["dense", "pixel-skip", "balanced"]
    assert (record["timing"], record["energy_profile"]) == (DEFAULT_CONFIG.timing, DEFAULT_CONFIG.energy_profile)
    assert record["config"] == "config.toml" and 0 < record["wall_seconds"] < 600


def test_the_folder_reruns_to_identical_tables(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["run", str(DEFAULT_TRACE), *GATED, "--array", "8x8", "--out", str(first), "--quiet"]) == 0
    rerun = json.loads((first / "run.json").read_text())["rerun"]
    assert rerun[:2] == ["accelsim", "run"] and "--config" in rerun
    assert main([*rerun[1:], "--out", str(second), "--quiet"]) == 0
    for name in ("layers.csv", "summary.csv", "config.toml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_topology_is_recorded_with_its_digest(tmp_path):
    assert main(["run", "--topology", TOPOLOGY, "--out", str(tmp_path), "--quiet"]) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["topology"]["sha256"] == file_digest(TOPOLOGY) and record["trace"] is None
    assert record["network"]["sha256"] == network_digest(load_topology(TOPOLOGY))
    assert record["images"] is None and record["rerun"][2:4] == ["--topology", record["topology"]["path"]]


def test_parquet_holds_the_same_tables(tmp_path):
    pytest.importorskip("pyarrow")
    assert main(["run", "--network", "resnet20", "--out", str(tmp_path), "--parquet", "--quiet"]) == 0
    for name in ("layers", "summary"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"),
                                      pd.read_csv(tmp_path / f"{name}.csv"), check_dtype=False)


def test_parquet_without_pyarrow_is_one_line_and_writes_nothing(tmp_path):
    code = ("import sys; sys.modules['pyarrow'] = None\nfrom accelsim.cli import main\n"
            f"sys.exit(main(['run', '--network', 'resnet20', '--out', {str(tmp_path / 'out')!r}, '--parquet']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "accelsim: error: --parquet: needs pyarrow (pip install 'accelsim[parquet]')\n"
    assert not (tmp_path / "out").exists()


def test_parquet_needs_out(capsys):
    assert main(["run", "--network", "resnet20", "--parquet"]) == 2
    assert capsys.readouterr().err == "accelsim: error: --parquet: give --out DIR for the tables\n"


def test_a_failed_run_writes_nothing(tmp_path, capsys):
    assert main(["run", str(DEFAULT_TRACE), "--images", "0:999999", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("accelsim: error: ")
    assert not (tmp_path / "out").exists()


def test_an_unwritable_folder_is_one_line_and_leaves_no_partial_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["run", "--network", "resnet20", "--out", str(tmp_path / "taken" / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelsim: error: --out ") and "cannot write the results" in err and err.count("\n") == 1
    assert _partials(tmp_path) == [] and (tmp_path / "taken").read_text() == "a file, not a folder"


@pytest.mark.parametrize("doc", ["results.md", "energy.md"])
def test_the_column_tables_of_the_docs_are_the_registrys(doc):
    """docs/results.md's layers and summary tables and docs/energy.md's account are generated
    from accelsim.columns and the energy components (run ``python -m accelsim.columns
    docs/results.md docs/energy.md`` after changing one)."""
    from pathlib import Path

    from accelsim import columns

    text = (Path(__file__).resolve().parent.parent / "docs" / doc).read_text()
    assert "<!-- columns: " in text
    assert columns.render(text) == text


def test_every_energy_component_has_a_colour_of_its_own():
    from accelsim.energy.account import COMPONENTS

    assert len({component.colour for component in COMPONENTS}) == len(COMPONENTS)


def test_the_registry_orders_the_columns_the_engine_and_the_account_count():
    from accelsim import columns
    from accelsim.energy.account import ENERGY_COLUMNS
    from accelsim.engine import TRAFFIC_FIELDS
    from accelsim.report import LOST_COLUMNS

    for table in (columns.LAYERS, columns.SUMMARY):
        names = [column.name for column in table]
        assert len(set(names)) == len(names)
        for group in (ENERGY_COLUMNS, TRAFFIC_FIELDS, LOST_COLUMNS):
            assert [name for name in names if name in group] == list(group)
        assert all(column.unit and column.meaning for column in table)


def test_every_column_is_documented():
    """docs/results.md names every column of layers.csv, summary.csv and a sweep's tables."""
    from pathlib import Path

    from accelsim.report import LAYER_COLUMNS, SUMMARY_COLUMNS
    from accelsim.sweep import POINT_COLUMNS

    text = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text()
    missing = [column for column in (*LAYER_COLUMNS, *SUMMARY_COLUMNS, *FIELD_NAMES, *POINT_COLUMNS)
               if f"`{column}`" not in text]
    assert missing == []


def test_a_run_into_an_old_folder_leaves_no_stale_table(tmp_path):
    """A run without --parquet into a folder where one with it wrote: the old Parquet tables go,
    so nothing there disagrees with the new CSVs."""
    pytest.importorskip("pyarrow")
    out = tmp_path / "out"
    base = ["run", "--network", "resnet20", "--out", str(out), "--quiet"]
    assert main([*base, "--parquet"]) == 0
    assert (out / "layers.parquet").exists() and (out / "summary.parquet").exists()
    assert main([*base, "--array", "8x8"]) == 0
    assert not (out / "layers.parquet").exists() and not (out / "summary.parquet").exists()
    assert pd.read_csv(out / "layers.csv")["array_rows"].eq(8).all()


def test_write_tables_removes_an_earlier_parquet(tmp_path):
    from accelsim.report import write_tables

    (tmp_path / "layers.parquet").write_bytes(b"an earlier run's")
    written = write_tables(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]}), tmp_path)
    assert sorted(path.name for path in written) == ["layers.csv", "summary.csv"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["layers.csv", "summary.csv"]
