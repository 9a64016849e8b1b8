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
    # a 32-row array streams 32 bytes a cycle: 4 banks of 64 bits, CACTI's 64 KB macro of 4 banks
    # against its one bank (22.263 / 25.869 pJ), times the one-bank table's 25.9
    assert table["sram_ifmap_read"] == pytest.approx(25.9 * 22.263 / 25.869)
    # 32 columns × 32-bit results a cycle: 16 banks (CACTI, 64 KB: 18.204 pJ)
    assert table["sram_ofmap_write"] == pytest.approx(25.9 * 18.204 / 25.869 * 1.1)
    assert table["dram_bit"] == 8.0  # LPDDR4
    assert table["gate_compare"] == pytest.approx(0.029)


def test_sram_interpolation_and_port_width():
    table = energy_table(DEFAULT_CONFIG.replace(ifmap_sram_kib=96, sram_port_bits=128, ifmap_sram_banks=1))
    t = math.log(96 / 64) / math.log(128 / 64)  # 96 KB between the 64 KB and 128 KB points
    expected = 25.9 ** (1 - t) * 32.3 ** t * (128 / 64) ** 0.5
    assert table["sram_ifmap_read"] == pytest.approx(expected)


def test_other_profile_node_and_dram_type():
    horowitz = energy_table(DEFAULT_CONFIG.replace(energy_profile="horowitz45", filter_sram_banks=1))
    assert horowitz["mac"] == pytest.approx(0.2 + 0.1)  # 8-bit multiply + 32-bit add
    assert horowitz["sram_filter_read"] == pytest.approx(10 * (64 / 8) ** 0.475)
    # banked: Horowitz's figure times CACTI's banked / one-bank read (64 KB, 4 banks)
    assert energy_table(DEFAULT_CONFIG.replace(energy_profile="horowitz45"))["sram_filter_read"] == pytest.approx(
        10 * (64 / 8) ** 0.475 * 22.263 / 25.869)
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
        # left: 2 rows × 2 steps × 2 hops × 8 bits; top: 2 × 2 × 2 × 8; drain: 4 results × 2 hops × 32;
        # a hop: a register bit and 0.04 mm of wire at 0.325 pJ/bit/mm
        "pe_to_pe": (64 + 64 + 256) * (0.009 + 0.325 * 0.04),
        # reads: 4 bytes of A, 4 of W; fills: the 4-byte ifmap, the 4-byte filters; 64-bit accesses
        "sram_ifmap": 4 / 8 * 25.9 + 4 / 8 * 28.49,
        "sram_filter": 4 / 8 * 25.9 + 4 / 8 * 28.49,
        "sram_ofmap": 16 / 8 * 28.49,  # 4 results × 4 bytes written, none read back
        "crossbar": 0.0,  # one array: no crossbar and no networks
        "networks": 0.0,
        "decision": 0.0,
        "gate": 0.0,
        "dram": (8 + 4) * 8 * 8.0,  # 8 bytes read, 4 written, 8 pJ/bit
        "leakage": 6 * 0.025 * (3 * 64 / 1024) * 1e3 / 1000,
        "control": 6 * 0.25074 * 16 / 32,  # one controller's 16-bit counter steps each cycle; no queue
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


# --- sliced arrays: the crossbar and the banked ifmap SRAM ------------------------------------

def _stages(slices):
    return math.ceil(math.log2(slices))


@pytest.mark.parametrize("slices", [1, 2, 4, 8])
@pytest.mark.parametrize("pitch", [0.0, 0.05])
def test_crossbar_bit_by_hand(slices, pitch):
    """The port's line across (P − 1)/P of the array's width, and ⌈log2 P⌉ 2:1 stages of one
    Aladdin bitwise op (0.018 pJ at 32 bit) per bit; 0 on one array."""
    config = DEFAULT_CONFIG.replace(array_slices=slices, energy_overrides={"pe_pitch_mm": pitch})
    expected = 0.325 * 32 * pitch * (slices - 1) / slices + _stages(slices) * 0.018 / 32
    assert energy_table(config)["crossbar_bit"] == pytest.approx(expected)
    if slices == 1:
        assert expected == 0
    # the same wire and bitwise entries in the other profile (inherited, and marked so)
    horowitz = energy_table(config.replace(energy_profile="horowitz45"))
    assert horowitz["crossbar_bit"] == pytest.approx(expected)


def test_crossbar_bit_scales_with_slices_pitch_and_node():
    def bit(**changes):
        return energy_table(DEFAULT_CONFIG.replace(**changes))["crossbar_bit"]

    mux = 0.018 / 32
    wire = 0.325 * 64 * 0.1  # a 64-column array at 0.1 mm: 6.4 mm
    unpitched = {"energy_overrides": {"pe_pitch_mm": 0.0}}
    assert bit(array_cols=64, array_slices=4, **unpitched) == pytest.approx(2 * mux)
    assert bit(array_cols=64, array_slices=16, **unpitched) == pytest.approx(4 * mux)
    # the default pitch, 0.04 mm: a 64-column array is 2.56 mm wide
    assert bit(array_cols=64, array_slices=4) == pytest.approx(0.325 * 2.56 * 3 / 4 + 2 * mux)
    pitched = {"energy_overrides": {"pe_pitch_mm": 0.1}}
    assert bit(array_cols=64, array_slices=2, **pitched) == pytest.approx(wire / 2 + mux)
    assert bit(array_cols=64, array_slices=64, **pitched) == pytest.approx(wire * 63 / 64 + 6 * mux)
    assert bit(array_cols=24, array_slices=3, **pitched) == pytest.approx(0.325 * 2.4 * 2 / 3 + 2 * mux)
    # logic scaling applies to the multiplexer stages, not to the wire
    assert bit(array_slices=4, technology_nm=7, **pitched) == pytest.approx(0.325 * 3.2 * 3 / 4 + 2 * mux * 0.10)


def test_a_banked_sram_is_priced_as_cacti_s_banked_macro():
    """Each access pays one bank and the H-tree to it across the macro: CACTI's read of the
    banked macro, against its one-bank read, times the one-bank table; the banks are the ones
    the slices need (0) or the config's."""
    sliced = energy_table(DEFAULT_CONFIG.replace(array_slices=4))
    one = energy_table(DEFAULT_CONFIG)
    # 4 slices of 32 rows stream 4 · 32 bytes a cycle: 16 banks of 64 bits (CACTI, 64 KB: 18.204)
    assert sliced["sram_ifmap_read"] == pytest.approx(25.9 * 18.204 / 25.869)
    assert sliced["sram_ifmap_write"] == pytest.approx(25.9 * 18.204 / 25.869 * 1.1)
    # the filters: 4 slices of 8 columns, 32 bytes a cycle: 4 banks, as on one array
    for action in ("sram_filter_read", "sram_ofmap_write", "leakage_cycle", "hop_bit", "mac"):
        assert sliced[action] == one[action], action
    # between table points: in log-log along capacities and bank counts (96 KB, 8 banks of 64 KB
    # 21.655 and of 128 KB 27.973; 12 banks between 8 and 16)
    t = math.log(96 / 64) / math.log(2)
    u = math.log(12 / 8) / math.log(2)
    at8 = 21.655 ** (1 - t) * 27.973 ** t
    at16 = 18.204 ** (1 - t) * 26.733 ** t
    single = 25.869 ** (1 - t) * 32.286 ** t
    expected = (25.9 ** (1 - t) * 32.3 ** t) * at8 ** (1 - u) * at16 ** u / single
    assert energy_table(DEFAULT_CONFIG.replace(ifmap_sram_kib=96, ifmap_sram_banks=12))["sram_ifmap_read"] == \
        pytest.approx(expected)


def test_the_idealised_model_prices_a_private_bank_per_slice():
    """``costs = "ideal"``: the earlier pricing, each access at one bank's energy with the
    routing free (one bank per slice's port where the ifmap SRAM has no banks set)."""
    ideal = energy_table(DEFAULT_CONFIG.replace(array_slices=4, costs="ideal"))
    # four banks of 16 KB: halfway in log-log between CACTI's 8 KB (6.14) and 32 KB (17.0) points
    assert ideal["sram_ifmap_read"] == pytest.approx(math.sqrt(6.14 * 17.0))
    banked = energy_table(DEFAULT_CONFIG.replace(array_slices=4, ifmap_sram_banks=8, filter_sram_banks=2,
                                                 costs="ideal"))
    assert banked["sram_ifmap_read"] == pytest.approx(6.14)  # 64 KiB / 8: the 8 KB point
    assert banked["sram_filter_read"] == pytest.approx(17.0)  # 64 KiB in two banks: the 32 KB point


SLICED = IDEAL.replace(array_slices=4, fallback="off", energy_overrides={"pe_pitch_mm": 0.05})


@pytest.fixture(scope="module")
def sliced_runs():
    net = get_network("resnet20")
    return {"one": run(net, SLICED.replace(array_slices=1)).layers, "sliced": run(net, SLICED).layers,
            "overridden": run(net, SLICED.replace(energy_overrides={"crossbar_bit": 2.0,
                                                                     "sram_ifmap_read": 7.0})).layers}


def test_crossbar_energy_in_the_account(sliced_runs):
    one, sliced = sliced_runs["one"], sliced_runs["sliced"]
    assert (one["crossbar_bytes"] == 0).all() and (one["energy_crossbar_pj"] == 0).all()
    table = energy_table(SLICED)
    assert table["crossbar_bit"] == pytest.approx(0.325 * 32 * 0.05 * 3 / 4 + 2 * 0.018 / 32)
    assert (sliced["crossbar_bytes"] > 0).all()
    np.testing.assert_allclose(sliced["energy_crossbar_pj"], sliced["crossbar_bytes"] * 8 * table["crossbar_bit"])
    # the ifmap SRAM's reads and fills at its banked macro's energy
    np.testing.assert_allclose(sliced["energy_sram_ifmap_pj"],
                               sliced["ifmap_sram_read_bytes"] / 8 * table["sram_ifmap_read"]
                               + sliced["ifmap_sram_write_bytes"] / 8 * table["sram_ifmap_write"])
    for layers in (one, sliced):
        parts = layers[[f"energy_{name}_pj" for name in ENERGY_COMPONENTS]].sum(axis=1)
        np.testing.assert_allclose(parts, layers["energy_total_pj"])
        assert "energy_crossbar_pj" in ENERGY_COLUMNS


def test_crossbar_overrides_apply(sliced_runs):
    sliced, overridden = sliced_runs["sliced"], sliced_runs["overridden"]
    np.testing.assert_allclose(overridden["energy_crossbar_pj"], overridden["crossbar_bytes"] * 8 * 2.0)
    np.testing.assert_allclose(overridden["energy_sram_ifmap_pj"],  # the read overridden, the write not
                               overridden["ifmap_sram_read_bytes"] / 8 * 7.0
                               + overridden["ifmap_sram_write_bytes"] / 8 * energy_table(SLICED)["sram_ifmap_write"])
    np.testing.assert_allclose(overridden["energy_mac_pj"], sliced["energy_mac_pj"])
    # raw entries flow into the action: wire, pitch and the bitwise op
    raw = energy_table(SLICED.replace(energy_overrides={"pe_pitch_mm": 0.2, "wire_per_bit_mm": 0.5,
                                                        "bitwise": 0.064}))
    assert raw["crossbar_bit"] == pytest.approx(0.5 * 32 * 0.2 * 3 / 4 + 2 * 0.064 / 32)


def test_energy_table_command_lists_the_crossbar(capsys, tmp_path):
    (tmp_path / "hw.toml").write_text('array_slices = 4\nenergy_profile = "horowitz45"\n[energy]\npe_pitch_mm = 0.05\n')
    assert main(["energy-table", "--config", str(tmp_path / "hw.toml")]) == 0
    out = capsys.readouterr().out
    crossbar = next(line for line in out.splitlines() if line.lstrip().startswith("crossbar_bit"))
    assert "0.3911" in crossbar and "pJ per bit routed" in crossbar and "(4−1)/4" in crossbar
    ifmap = next(line for line in out.splitlines() if line.lstrip().startswith("sram_ifmap_read"))
    assert "64 KB in 16 bank(s)" in ifmap and "banked/one-bank" in ifmap
    assert "area in force" in out and "sram_ifmap" in out and "controllers" in out
    bitwise = next(line for line in out.splitlines() if line.lstrip().startswith("bitwise"))
    assert "Aladdin" in bitwise and "[from accelergy45]" in bitwise


def test_the_idealised_model_leaves_the_wires_out():
    """``costs = "ideal"``: the earlier model, every wire free (an explicit pitch included)."""
    charged = energy_table(DEFAULT_CONFIG.replace(array_slices=4))
    ideal = energy_table(DEFAULT_CONFIG.replace(array_slices=4, costs="ideal",
                                                energy_overrides={"pe_pitch_mm": 0.1}))
    assert ideal["crossbar_bit"] == pytest.approx(2 * 0.018 / 32)  # the multiplexer stages alone
    assert ideal["hop_bit"] == pytest.approx(0.009)
    assert ideal["hop_bit"] < charged["hop_bit"]
    assert charged["crossbar_bit"] > ideal["crossbar_bit"]
