"""The README's account of the spread study ("Every cost charged") says what the study's file
(notebooks/cgnet_spread.csv, itself re-run row by row in test_cgnet_spread.py) holds, and what
one run of its best design shows of where the energy and the area go."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest
from doctext import README, ROOT, flat, section, spread_study

TEXT = flat(section(README, "### Every cost charged", "### Real gates").replace("**", ""))
SPREAD = pd.read_csv(ROOT / "notebooks" / "cgnet_spread.csv")
SYNTHETIC = SPREAD[SPREAD["gates"] == "synthetic"]
LARGE, SMALL = "512 KiB, 32 B/cycle", "64 KiB, 16 B/cycle"
BEST, PAYS = "P = 64, 16x1 slices", "P = 8, 32x4 slices"


def values(column: str, design: str, reduction: float = 2.8, memory: str = LARGE, ports: str = "demand") -> pd.Series:
    rows = SYNTHETIC[(SYNTHETIC["design"] == design) & (SYNTHETIC["reduction"] == reduction)
                     & (SYNTHETIC["memory"] == memory) & (SYNTHETIC["ports"] == ports)]
    assert len(rows) == 5, (design, reduction, memory, ports)  # one per seed
    return rows[column]


def median(column: str, design: str, **where) -> float:
    return statistics.median(values(column, design, **where))


def quoted(text: str) -> bool:
    return text.replace("%", " %") in TEXT


def percent_range(low: float, high: float) -> str:
    """A range as the README writes it: ``38–50%`` (``quoted`` spaces the sign)."""
    return f"{low * 100:.0f}–{high:.0%}"


def test_the_band_holds_in_cycles_at_a_price_in_energy():
    speed = values("speedup_vs_one_array", BEST)
    at = {r: median("speedup_vs_one_array", BEST, reduction=r) for r in (3.2, 2.0)}
    assert quoted(f"64 slices of 16 × 1 still reach {statistics.median(speed):.2f}× ({speed.min():.2f}–{speed.max():.2f}× "
                  f"over the seeds; {at[3.2]:.2f}× at 3.2× fewer MACs, {at[2.0]:.2f}× at 2.0×)")
    area = median("area_vs_one_array", BEST)
    assert quoted(f"and {area - 1:.0%} more area than one array")
    energy, one = median("energy_per_image_uj", BEST) / 1000, median("one_array_dense_energy_uj", BEST) / 1000
    assert quoted(f"they spend {median('energy_vs_one_array', BEST):.2f}× the energy of dense on one array "
                  f"({energy:.1f} mJ against {one:.1f} mJ per image)")


def test_area_does_not_bind():
    largest = SYNTHETIC["area_vs_one_array"].max()
    assert quoted(f"Every design is within {largest:.2f}× one array's area")


def test_the_design_that_pays():
    speed, energy = median("speedup_vs_one_array", PAYS, ports="128-bit"), median("energy_vs_one_array", PAYS, ports="128-bit")
    assert speed > 1 and energy < 1
    others = {r: (median("speedup_vs_one_array", PAYS, reduction=r, ports="128-bit"),
                  median("energy_vs_one_array", PAYS, reduction=r, ports="128-bit")) for r in (3.2, 2.0)}
    assert quoted(f"P = 8 slices of 32 × 4 with 128-bit SRAM ports, {speed:.2f}× faster than one array at {energy:.2f}× "
                  f"its energy and the same area (at 3.2×: {others[3.2][0]:.2f}× at {others[3.2][1]:.2f}×; at 2.0×: "
                  f"{others[2.0][0]:.2f}× at {others[2.0][1]:.2f}×")
    assert others[2.0][1] > 1  # "does not pay" at 2.0×


def test_ports():
    designs = [design for design in SYNTHETIC["design"].unique() if design != "one array"]
    loss = {design: 1 - median("speedup_vs_one_array", design, ports="half") / median("speedup_vs_one_array", design)
            for design in designs}
    assert quoted(f"on 512 KiB every design loses {percent_range(min(loss.values()), max(loss.values()))}")
    for design, label in ((BEST, "P = 64 of 16 × 1"), ("P = 4, 32x8 slices", "32 × 8")):
        full, half = median("speedup_vs_one_array", design), median("speedup_vs_one_array", design, ports="half")
        assert quoted(f"{label}: {full:.2f}× → {half:.2f}×"), label
    saving = {design: 1 - median("energy_per_image_uj", design, ports="128-bit") / median("energy_per_image_uj", design)
              for design in designs}
    assert quoted(f"the same speed for {percent_range(min(saving.values()), max(saving.values()))} less energy")
    assert all(median("speedup_vs_one_array", design, ports="128-bit") == pytest.approx(median("speedup_vs_one_array", design),
                                                                                        rel=0.01) for design in designs)


def test_the_default_memory_is_dram_bound():
    designs = [design for design in SYNTHETIC["design"].unique() if design != "one array"]
    stall = [median("lost_stall", design, memory=SMALL) / median("cycles_total", design, memory=SMALL) for design in designs]
    assert quoted(f"(`lost_stall` {percent_range(min(stall), max(stall))} of the sliced designs' cycles)")
    speed = {design: median("speedup_vs_one_array", design, memory=SMALL) for design in designs}
    best = max(speed, key=speed.get)
    one = median("speedup_vs_dense", "one array", memory=SMALL)
    assert quoted(f"the best is {best.split(',')[0]} at {speed[best]:.2f}×, against {one:.2f}× for one array")


def test_seeds_move_a_speedup_little():
    spread = SYNTHETIC.groupby(["design", "reduction", "memory", "ports"])["speedup_vs_one_array"].agg(
        lambda s: (s.max() - s.min()) / s.median())
    assert quoted(f"Seeds move a design's speedup by at most {spread.max():.1%}")


@pytest.mark.heavy
def test_where_the_best_design_s_energy_and_area_go():
    """One seed of the best design (2.8×, 512 KiB, 32 B/cycle): the ifmap reads' and crossbar's
    shares of its energy, the time lost to partial tiles and the DRAM, and its area's make-up."""
    from accelsim import run
    from accelsim.energy.area import area_table

    study = spread_study()
    point = study.Point("synthetic", 2.8, 0, LARGE, 64, 16, "demand")
    network, trace, images, calibration = study.gates_of(point)
    config = study.design_config(point)
    row = run(network, config, ["task-queue"], trace, images=images, calibration=calibration).summary.set_index(
        "scheduler").loc["task-queue"]
    total = row["energy_total_pj"]
    assert quoted(f"so the ifmap SRAM's reads ({row['energy_sram_ifmap_pj'] / total:.0%} of the energy")
    assert quoted(f"and the crossbar's wires ({row['energy_crossbar_pj'] / total:.0%})")
    assert quoted(f"(`lost_partial_tiles`, {row['lost_partial_tiles'] / row['cycles_total']:.0%} of its cycles")
    assert quoted(f"and the DRAM ({row['lost_stall'] / row['cycles_total']:.0%})")
    shares = []
    for slices, rows in ((1, 0), (4, 0), (8, 0), (16, 0), (32, 0), (16, 16), (32, 16), (64, 16)):
        area = area_table(config.replace(array_slices=slices, slice_rows=rows))
        shares.append(sum(area[f"sram_{b}"] for b in ("ifmap", "filter", "ofmap")) / area.total_mm2)
    assert quoted(f"SRAMs are {percent_range(min(shares), max(shares))} of it at 512 KiB")
    area = area_table(config)
    added = sum(area[name] for name in ("crossbar", "networks", "controllers", "queue"))
    assert quoted(f"the crossbar, networks, 64 controllers and the queue add {added:.2f} mm²")
