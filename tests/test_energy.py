"""Energy: the table against the sources by hand, a small case by hand, and the relations
that must hold."""

import math

import numpy as np
import pytest

from accelsim import DEFAULT_CONFIG, Layer, Network, get_network, open_trace, run
from accelsim.cli import main
from accelsim.energy import energy_table
from accelsim.energy.account import ENERGY_COLUMNS, ENERGY_COMPONENTS
from accelsim.schedule import SCHEDULERS
from accelsim.trace import as_trace_layer, gateable_layers, synthesize

IDEAL = DEFAULT_CONFIG.replace(dram_bandwidth_bytes_per_cycle=math.inf)


def test_accelergy45_entries_by_hand():
    table = energy_table(DEFAULT_CONFIG)  # 8-bit operands, 32-bit accumulators, 45 nm, 64 KiB SRAMs
    mac = 8.63 * (8 / 32) ** 2 + 0.0857  # Aladdin multiplier scaled by width², 32-bit adder
    assert table["mac"] == pytest.approx(mac)
    assert table["gated_mac"] == pytest.approx(0.103 * mac / 2.2)
    assert table["idle_pe"] == pytest.approx(0.066 * mac / 2.2)
    assert table["sram_ifmap_read"] == pytest.approx(25.9)  # CACTI 45 nm, 64 KB, 64-bit
    assert table["sram_ofmap_write"] == pytest.approx(25.9 * 1.1)
    assert table["dram_bit"] == 8.0  # LPDDR4
    assert table["gate_compare"] == pytest.approx(0.029)


def test_sram_interpolation_and_port_width():
    table = energy_table(DEFAULT_CONFIG.replace(ifmap_sram_kib=96, sram_port_bits=128))
    t = math.log(96 / 64) / math.log(128 / 64)  # 96 KB between the 64 KB and 128 KB points
    expected = 25.9 ** (1 - t) * 32.3 ** t * (128 / 64) ** 0.5
    assert table["sram_ifmap_read"] == pytest.approx(expected)


def test_other_profile_node_and_dram_type():
    horowitz = energy_table(DEFAULT_CONFIG.replace(energy_profile="horowitz45"))
    assert horowitz["mac"] == pytest.approx(0.2 + 0.1)  # 8-bit multiply + 32-bit add
    assert horowitz["sram_filter_read"] == pytest.approx(10 * (64 / 8) ** 0.475)
    assert horowitz["dram_bit"] == 20.0
    small = energy_table(DEFAULT_CONFIG.replace(technology_nm=7, dram_type="HBM2"))
    assert small["mac"] == pytest.approx((8.63 / 16 + 0.0857) * 0.10)
    assert small["dram_bit"] == 3.9


def test_overrides_replace_one_entry_and_show_in_the_report():
    config = IDEAL.replace(energy_overrides={"mac": 1.0, "register_per_bit": 0.0})
    table = energy_table(config)
    assert table["mac"] == 1.0 and table["register_bit"] == 0.0
    net = get_network("resnet20")
    before = run(net, IDEAL).layers
    after = run(net, config).layers
    assert (after["energy_mac_pj"] == after["macs_executed"] * 1.0).all()
    assert (after["energy_register_pj"] == 0).all()
    assert (after["energy_dram_pj"] == before["energy_dram_pj"]).all()


def test_small_case_by_hand():
    """A 2×2×2 GEMM on a 2×2 OS array, ideal memory, physical timing: one fold of
    2R + C + K − 2 = 6 cycles."""
    config = IDEAL.replace(array_rows=2, array_cols=2, timing="physical")
    row = run(Network("g", (Layer.gemm("g", 2, 2, 2),)), config).layers.iloc[0]
    mac = 8.63 / 16 + 0.0857
    idle_pe = 0.066 * mac / 2.2
    expected = {
        "mac": 8 * mac,
        "gated_mac": 0.0,
        "idle": (6 * 4 - 8) * idle_pe,  # 24 PE-cycles, 8 of them MACs
        "register": 8 * 32 * 0.009,
        # left: 2 rows × 2 steps × 2 hops × 8 bits; top: 2 × 2 × 2 × 8; drain: 4 results × 2 hops × 32
        "pe_to_pe": (64 + 64 + 256) * 0.009,
        # reads: 4 bytes of A, 4 of W; fills: the 4-byte ifmap, the 4-byte filters; 64-bit accesses
        "sram_ifmap": 4 / 8 * 25.9 + 4 / 8 * 28.49,
        "sram_filter": 4 / 8 * 25.9 + 4 / 8 * 28.49,
        "sram_ofmap": 16 / 8 * 28.49,  # 4 results × 4 bytes written, none read back
        "decision": 0.0,
        "gate": 0.0,
        "dram": (8 + 4) * 8 * 8.0,  # 8 bytes read, 4 written, 8 pJ/bit
        "leakage": 6 * 0.025 * (3 * 64 / 1024) * 1e3 / 1000,
    }
    for name, value in expected.items():
        assert row[f"energy_{name}_pj"] == pytest.approx(value), name
    assert row["energy_total_pj"] == pytest.approx(sum(expected.values()))


@pytest.fixture(scope="module")
def gated_layers(tmp_path_factory):
    net = get_network("resnet20")
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(net)]
    path = synthesize(tmp_path_factory.mktemp("energy") / "t.npz", net, layers, 2,
                      {layer.name: 0.2 for layer in layers}, seed=4)
    with open_trace(path) as trace:
        return run(net, DEFAULT_CONFIG.replace(array_rows=16, array_cols=16, fallback="off"), SCHEDULERS.names(),
                   trace)


def test_components_sum_to_the_total(gated_layers):
    layers = gated_layers.layers
    parts = layers[[f"energy_{name}_pj" for name in ENERGY_COMPONENTS]].sum(axis=1)
    np.testing.assert_allclose(parts, layers["energy_total_pj"])
    assert (layers[list(ENERGY_COLUMNS)] >= 0).all().all()


def test_gating_and_skipping_relations(gated_layers):
    summary = gated_layers.summary.set_index("scheduler")
    # clock-gating (one pass) does less MAC work than dense, in exactly dense's cycles
    assert summary.loc["clock-gate", "energy_mac_pj"] < summary.loc["dense", "energy_mac_pj"]
    assert summary.loc["clock-gate", "cycles_total"] == summary.loc["dense", "cycles_total"]
    assert summary.loc["clock-gate", "energy_total_pj"] < summary.loc["dense", "energy_total_pj"]
    # in two passes every skipping scheduler does just the needed MACs; one pass also runs
    # conditional MACs of off outputs before their decision
    two_pass = summary.drop(index=["dense", "clock-gate"])
    assert two_pass["energy_mac_pj"].nunique() == 1
    assert (two_pass["macs_executed"] == two_pass["macs_needed"]).all()
    assert summary.loc["clock-gate", "macs_executed"] > summary.loc["clock-gate", "macs_needed"]
    assert summary.loc["clock-gate", "energy_mac_pj"] > two_pass["energy_mac_pj"].iloc[0]
    assert summary.loc["clock-gate", "energy_gated_mac_pj"] > 0
    assert summary.loc["dense", "energy_gated_mac_pj"] == 0
    assert summary.loc["dense", "energy_saving_vs_dense"] == 0


def test_energy_table_command(capsys, tmp_path):
    (tmp_path / "hw.toml").write_text('energy_profile = "horowitz45"\n[energy]\nmac = 0.25\n')
    assert main(["energy-table", "--config", str(tmp_path / "hw.toml")]) == 0
    out = capsys.readouterr().out
    assert "profile horowitz45" in out and "overridden in the config" in out
    assert "Horowitz ISSCC 2014" in out and "Eyeriss: 200 : 6 : 1" in out
    (tmp_path / "bad.toml").write_text("[energy]\nmacs = 1\n")
    assert main(["energy-table", "--config", str(tmp_path / "bad.toml")]) == 2
    assert "energy.macs: unknown entry" in capsys.readouterr().err


def test_unknown_energy_entry_in_a_file_names_the_file(tmp_path):
    from accelsim import ConfigError, load_config

    (tmp_path / "hw.toml").write_text("[energy]\nmacs = 1\n")
    with pytest.raises(ConfigError, match=r"hw.toml: energy.macs: unknown entry"):
        load_config(tmp_path / "hw.toml")


def test_raw_override_flows_into_the_action():
    table = energy_table(DEFAULT_CONFIG.replace(energy_overrides={"multiplier": 4.0}))
    assert table["mac"] == pytest.approx(4.0 / 16 + 0.0857)
    assert table["gated_mac"] == pytest.approx(0.103 * (4.0 / 16 + 0.0857) / 2.2)
