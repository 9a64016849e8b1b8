"""Area: the components against the sources by hand, and the relations that must hold."""

import math

import pytest

from accelsim import DEFAULT_CONFIG, get_network, run
from accelsim.arch.memory import sram_banks
from accelsim.energy.area import AREA_COMPONENTS, area_table

PLACED = (45 / 40) ** 2 / 0.7  # Aladdin's 40 nm areas at 45 nm, at 70 % placement density
SLICED = DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16, ifmap_sram_kib=512, filter_sram_kib=512,
                                ofmap_sram_kib=512)


def test_one_array_by_hand():
    table = area_table(DEFAULT_CONFIG)  # 32×32, 8-bit operands, 32-bit accumulators, 64 KiB SRAMs
    pe = (4595 * (8 / 32) ** 2 + 179.4 + (2 * 8 + 2 * 32) * 5.98) * PLACED
    assert table["pe_array"] == pytest.approx(1024 * pe * 1e-6)
    # 32 columns × 32-bit results a cycle: 16 banks of 64 bits (CACTI 45 nm, 64 KB)
    assert table["sram_ofmap"] == pytest.approx(0.25641)
    assert table["sram_ifmap"] == pytest.approx(0.22658)  # four banks: 32 rows × 8 bits / 64-bit ports
    assert table["crossbar"] == table["networks"] == table["queue"] == 0
    assert table["controllers"] == pytest.approx((3 * 495.5 / 2 + 64 * 5.98) * PLACED * 1e-6)
    assert table["gate_unit"] == pytest.approx(32 * (71 + 32 * 5.98) * PLACED * 1e-6)
    assert [item.name for item in table.items] == list(AREA_COMPONENTS)
    assert table.total_mm2 == pytest.approx(sum(item.mm2 for item in table.items))


def test_slices_pay_for_banks_networks_controllers_and_queue():
    one, sliced = area_table(SLICED.replace(array_slices=1, slice_rows=0)), area_table(SLICED)
    # 64 slices × 16 rows × 8 bits, × 1 column × 8 bits, × 1 column × 32 bits, over 64-bit ports
    assert sram_banks(SLICED) == {"ifmap": 128, "filter": 8, "ofmap": 32}
    assert sliced["sram_ifmap"] == pytest.approx(2.01546)  # CACTI 45 nm, 512 KB in 128 banks
    bits = 64 * 16 * 8  # every input bit of every slice through log2(64) = 6 stages
    assert sliced["crossbar"] == pytest.approx(bits * 6 * 50.37 / 32 * PLACED * 1e-6)
    assert sliced["networks"] == pytest.approx(64 * (8 + 32) * 6 * 50.37 / 32 * PLACED * 1e-6)
    assert sliced["controllers"] == pytest.approx(64 * one["controllers"])
    assert sliced["queue"] == pytest.approx((16 * 64 * 5.98 + 15 * 71 / 2) * PLACED * 1e-6)
    assert sliced["pe_array"] == one["pe_array"]
    assert (one["sram_ofmap"], sliced["sram_ofmap"]) == pytest.approx((1.61422, 1.73328))  # 16 and 32 banks
    assert sliced.total_mm2 > one.total_mm2


def test_node_and_given_banks():
    assert area_table(DEFAULT_CONFIG.replace(technology_nm=22, ofmap_sram_kib=512))["sram_ofmap"] == \
        pytest.approx(0.38535)  # CACTI's 22 nm column, 512 KB in 16 banks
    small = area_table(DEFAULT_CONFIG.replace(technology_nm=22))
    assert small["pe_array"] == pytest.approx(area_table(DEFAULT_CONFIG)["pe_array"] * (22 / 45) ** 2)
    # a node without a CACTI column: the 45 nm macro scaled by (node / 45)²
    assert area_table(DEFAULT_CONFIG.replace(technology_nm=7))["sram_ofmap"] == pytest.approx(0.25641 * (7 / 45) ** 2)
    # given banks in place of those the slices need; between counts, in log-log
    three = area_table(DEFAULT_CONFIG.replace(ifmap_sram_banks=3))["sram_ifmap"]
    u = math.log(3 / 2) / math.log(2)
    assert three == pytest.approx(0.20774 ** (1 - u) * 0.22658 ** u)


def test_the_summary_carries_area():
    network = get_network("resnet20")
    one = run(network, DEFAULT_CONFIG).summary
    assert one["area_mm2"].iloc[0] == pytest.approx(area_table(DEFAULT_CONFIG).total_mm2)
    assert one["area_vs_one_array"].iloc[0] == pytest.approx(1.0)
    config = DEFAULT_CONFIG.replace(array_slices=4)
    sliced = run(network, config).summary
    ratio = area_table(config).total_mm2 / area_table(DEFAULT_CONFIG).total_mm2
    assert sliced["area_vs_one_array"].iloc[0] == pytest.approx(ratio) and ratio > 1
    assert sliced["speedup_per_area"].iloc[0] == pytest.approx(sliced["speedup_vs_dense"].iloc[0] / ratio)


def test_the_figures_docs_energy_quotes():
    """docs/energy.md's area and banked-read figures are the tables' own."""
    from pathlib import Path

    from accelsim.energy.table import energy_table

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "energy.md").read_text().split())
    one = area_table(DEFAULT_CONFIG)
    assert f"The default one-array design is {one.total_mm2:.2f} mm² (PE array {100 * one['pe_array'] / one.total_mm2:.0f} %)" in text
    large = dict(ifmap_sram_kib=512, filter_sram_kib=512, ofmap_sram_kib=512)
    sliced = area_table(DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16, **large)).total_mm2
    unsliced = area_table(DEFAULT_CONFIG.replace(**large)).total_mm2
    assert f"are {sliced:.2f} mm² against {unsliced:.2f} mm² on one array: {sliced / unsliced:.2f}×" in text
    pe = one["pe_array"] / 1024 * 1e6
    assert f"{pe:,.0f} µm² a PE at 45 nm, {one['pe_array']:.2f} mm² for 32 × 32" in text
    read = {banks: energy_table(DEFAULT_CONFIG.replace(ifmap_sram_kib=512, ifmap_sram_banks=banks))["sram_ifmap_read"]
            for banks in (1, 64, 128)}
    assert f"512 KB is {read[1]:.1f} pJ in one bank, {read[64]:.1f} pJ in 64 banks and {read[128]:.1f} pJ in 128" in text


def test_the_per_action_figures_docs_energy_quotes():
    """docs/energy.md's worked action energies: the MAC at two accumulator widths, a PE hop with
    and without its wire, a routed bit against an SRAM read per bit, a lone small bank's read."""
    from pathlib import Path

    from accelsim.energy.table import energy_table

    from accelsim.energy.table import load_profile

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "energy.md").read_text().split())
    table = energy_table(DEFAULT_CONFIG)
    pitch = load_profile(DEFAULT_CONFIG.energy_profile)["entries"]["pe_pitch_mm"]["value"]
    assert (f"an 8-bit MAC with a 32-bit accumulator is {table['mac']:.3f} pJ, not the "
            f"{energy_table(DEFAULT_CONFIG.replace(accumulator_bits=8))['mac']:.2f} pJ of an all-8-bit one") in text
    assert (f"{8 * table['hop_bit']:.3f} pJ per 8-bit word at the default {pitch:g} mm "
            f"({8 * energy_table(DEFAULT_CONFIG.replace(costs='ideal'))['hop_bit']:.3f} pJ without the wire)") in text
    four = energy_table(DEFAULT_CONFIG.replace(array_slices=4))
    many = energy_table(DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16))
    assert (f"a 32-column array is {32 * pitch:.2f} mm wide and a routed bit costs {four['crossbar_bit']:.3f} pJ at P = 4 "
            f"and {many['crossbar_bit']:.3f} pJ at P = 64 (16-row slices), against {four['sram_ifmap_read'] / 64:.2f} pJ "
            f"per bit to read it from the 64 KiB ifmap SRAM in 16 banks and {many['sram_ifmap_read'] / 64:.2f} pJ in 128") \
        in text
    lone = energy_table(DEFAULT_CONFIG.replace(ifmap_sram_kib=4, ifmap_sram_banks=1))["sram_ifmap_read"]
    assert f"a lone 4 KB bank reads at about {lone:.0f} pJ" in text
