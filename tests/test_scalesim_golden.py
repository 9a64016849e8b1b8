"""Under the scalesim timing convention, every dense layer's cycles equal SCALE-Sim 3.0.0's
``Total Cycles``, read from real SCALE-Sim reports in ``tests/data/scalesim`` (see its README)."""

from pathlib import Path

import pandas as pd
import pytest

from accelsim import load_scalesim_config, load_topology, run
from accelsim.cli import main

GOLDEN = Path(__file__).parent / "data" / "scalesim"
# every SCALE-Sim config says that its DRAM answers in one cycle (tested in test_config.py)
pytestmark = pytest.mark.filterwarnings("ignore:.*SCALE-Sim's DRAM answers in one cycle")
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "COMPUTE_REPORT.csv").exists())


def scalesim_report(case: str) -> pd.DataFrame:
    report = pd.read_csv(GOLDEN / case / "COMPUTE_REPORT.csv", skipinitialspace=True)
    return report.loc[:, ~report.columns.str.startswith("Unnamed")]


def test_there_are_golden_cases():
    assert len(CASES) >= 15


@pytest.mark.filterwarnings("ignore:.*Sparsity column is ignored")
@pytest.mark.parametrize("case", CASES)
def test_total_cycles_equal_scalesim(case):
    config, _ = load_scalesim_config(GOLDEN / case / "scale.cfg")
    config = config.replace(timing="scalesim")
    network = load_topology(GOLDEN / case / "topology.csv")
    layers = run(network, config).layers
    report = scalesim_report(case)
    assert report["Stall Cycles"].eq(0).all()
    assert list(layers["cycles_total"]) == list(report["Total Cycles"])
    # our utilisation and mapping efficiency are SCALE-Sim's "Overall Util %" and "Mapping Efficiency %"
    assert layers["pe_utilization"].mul(100).tolist() == pytest.approx(report["Overall Util %"].tolist(), rel=1e-12)
    assert layers["mapping_efficiency"].mul(100).tolist() == pytest.approx(
        report["Mapping Efficiency %"].tolist(), rel=1e-12)


@pytest.mark.parametrize("case", ["os_4x16", "ws_16x4", "gemm_is_8x8", "dw_os_8x8"])
def test_cli_reproduces_scalesim(case, tmp_path, capsys):
    folder = GOLDEN / case
    status = main(["run", "--topology", str(folder / "topology.csv"), "--scalesim-config",
                   str(folder / "scale.cfg"), "--timing", "scalesim", "--out", str(tmp_path), "--quiet"])
    assert status == 0
    assert capsys.readouterr() == ("", "")
    written = pd.read_csv(tmp_path / "layers.csv")
    assert list(written["cycles_total"]) == list(scalesim_report(case)["Total Cycles"])


def test_physical_timing_adds_the_drain_and_the_last_cycle():
    """The physical convention differs from SCALE-Sim by R per OS fold plus 1 per layer."""
    config, _ = load_scalesim_config(GOLDEN / "os_8x8" / "scale.cfg")
    config = config.replace(timing="physical")
    layers = run(load_topology(GOLDEN / "os_8x8" / "topology.csv"), config).layers
    report = scalesim_report("os_8x8")
    expected = report["Total Cycles"] + layers["folds"] * config.array_rows + 1
    assert list(layers["cycles_total"]) == list(expected)


@pytest.mark.parametrize("size, scalesim_total", [(16, 7_971_388), (32, 2_114_948), (128, 268_304)])
def test_resnet18_convs_match_scalesim_published_totals(size, scalesim_total):
    """SCALE-Sim 3.0.0's Total Cycles of torchvision's ResNet-18 (20 convs, OS, stall-free), as
    measured on this project's machines and recorded in the peers' reference notes."""
    from accelsim import DEFAULT_CONFIG, get_network

    config = DEFAULT_CONFIG.replace(array_rows=size, array_cols=size, dataflow="os", timing="scalesim")
    layers = run(get_network("resnet18"), config).layers
    convs = layers[layers["layer"] != "fc"]
    assert len(convs) == 20
    assert convs["cycles_compute"].sum() == scalesim_total
