"""The README's CGNet study (section "The CGNet band") is what the study runs: its tables and the
figures its prose quotes, re-run as notebooks/cgnet_headline.ipynb runs them (ResNet-18, synthetic
gates at 2.8× fewer MACs with the structure fitted to the shipped trace; images 2:4 measured, 0:2
calibrating)."""

from __future__ import annotations

from functools import cache

import pytest
from doctext import README, ROOT, flat, section, spread_study

import accelsim

pytestmark = pytest.mark.heavy

STUDY = section(README, "[`notebooks/cgnet_headline.ipynb`](notebooks/cgnet_headline.ipynb) is the study",
                "### Every cost charged")
FLAT = flat(STUDY.replace("**", ""))
SPREAD = spread_study()  # the memories and the trace are the spread study's, which the notebook shares
SMALL, LARGE = (SPREAD.memory_config(memory) for memory in SPREAD.MEMORIES)
MEMORIES = {"OS, 64 KiB per SRAM, 16 B/cycle (the default)": SMALL, "OS, 512 KiB per SRAM, 32 B/cycle": LARGE}
BEST = LARGE.replace(array_slices=64, slice_rows=16, task_folds=1)


@pytest.fixture(scope="module")
def study():
    """``study(config, scheduler)``: the summary row of one scheduler at one point, and the
    point's layer table; each point runs once. The trace is the spread study's first synthetic
    one at 2.8×, as the notebook makes it."""
    network, trace, images, calibration = SPREAD.gates_of(SPREAD.Point("synthetic", 2.8, 0, "", 1, 0, "demand"))

    @cache
    def point(config, scheduler="task-queue"):
        result = accelsim.run(network, config, [scheduler], trace, images=images, calibration=calibration)
        return result.summary.set_index("scheduler"), result.layers

    def row(config, scheduler="task-queue"):
        return point(config, scheduler)[0].loc[scheduler]

    row.layers = lambda config, scheduler="task-queue": point(config, scheduler)[1]
    return row


def cells_of(label: str, text: str = README, prefix: str = "| ") -> list[str]:
    line = next((line for line in text.splitlines() if line.startswith(f"{prefix}{label} |")), None)
    assert line, f"README.md: no table row {label!r}"
    return [cell.strip().replace("*", "") for cell in line.strip().strip("|").split("|")]


def x(value: float) -> str:
    return f"{value:.2f}×"


def test_the_p_table(study):
    """Task-queue against P on both memories, a task per set / tasks of one row tile, and the
    best schedulers on one array."""
    for label, config in MEMORIES.items():
        cells = cells_of(label)
        one_array = {name: study(config, name)["speedup_vs_dense"] for name in accelsim.SCHEDULERS if name != "dense"}
        best_one = {"balanced-oracle": max(one_array.values()),  # the oracle is the best, and pixel-skip the best
                    "pixel-skip": max(speed for name, speed in one_array.items() if name != "balanced-oracle")}
        assert one_array["balanced-oracle"] == best_one["balanced-oracle"]
        if "(balanced-oracle)" in cells[1]:
            assert cells[1] == f"{x(best_one['balanced-oracle'])} (balanced-oracle), {x(best_one['pixel-skip'])} (pixel-skip)"
        else:
            assert cells[1] == f"{x(best_one['balanced-oracle'])}, {x(best_one['pixel-skip'])}"
        assert cells[2] == x(study(config)["speedup_vs_dense"])  # P = 1
        for cell, (slices, rows) in zip(cells[3:], ((2, 0), (4, 0), (8, 0), (16, 0), (32, 0), (64, 16))):
            sliced = config.replace(array_slices=slices, slice_rows=rows)
            per_set, row_tile = study(sliced)["speedup_vs_dense"], study(sliced.replace(task_folds=1))["speedup_vs_dense"]
            assert cell == f"{x(per_set)} / {x(row_tile)}", (label, slices)


def test_the_bandwidth_table(study):
    for label, point in (("P = 32, 32-row slices", LARGE.replace(array_slices=32, task_folds=1)),
                         ("P = 64, 16-row slices", BEST)):
        assert cells_of(label)[1:] == [x(study(point.replace(dram_bandwidth_bytes_per_cycle=bandwidth))["speedup_vs_dense"])
                                       for bandwidth in (32.0, 64.0, float("inf"))], label
    unbounded = [x(study(point.replace(dram_bandwidth_bytes_per_cycle=float("inf")))["speedup_vs_dense"])
                 for point in (LARGE.replace(array_slices=32, task_folds=1), BEST)]
    assert f"(unbounded bandwidth: {unbounded[0]} at P = 32, {unbounded[1]} at P = 64)" in FLAT


def test_the_best_point(study):
    """Its speedup, share of the MAC reduction, input bandwidth and energy against dense."""
    best, dense, one_array = study(BEST), study(BEST, "dense"), study(LARGE, "dense")
    fraction, inputs = best["realized_fraction"], best["input_bytes_per_cycle"]
    assert (f"{x(best['speedup_vs_dense'])}, {fraction:.0%} of the MAC reduction, {inputs:.0f} B/cycle of ifmap SRAM "
            "reads").replace("%", " %") in FLAT
    energy, dense_energy, one = (best["energy_per_image_uj"] / 1000, dense["energy_per_image_uj"] / 1000,
                                 one_array["energy_per_image_uj"] / 1000)
    assert (f"{energy:.2f} mJ per image against {dense_energy:.2f} mJ for dense on the same hardware and {one:.2f} mJ "
            f"on one array: {energy / dense_energy - 1:.0%} more energy").replace("%", " %") in FLAT
    one_array_inputs = study(LARGE)["input_bytes_per_cycle"]
    assert f"grows from {one_array_inputs:.0f} to {inputs:.0f} B/cycle at the best point" in FLAT


def test_balance_and_the_last_stage(study):
    per_set = study(BEST.replace(task_folds=0))["lost_imbalance"]
    assert (f"`lost_imbalance` {study(BEST)['lost_imbalance'] / 1000:.0f} k cycles against {per_set / 1000:.0f} k with "
            "a task per set") in FLAT
    layers = study.layers(BEST)  # the two measured images; the stages' gated convs (downsample convs are dense)
    layers = layers[layers["layer"].str.match(r"layer\d\.\d\.conv")].assign(stage=lambda t: t["layer"].str[:6])
    tq, dense = layers[layers["scheduler"] == "task-queue"], layers[layers["scheduler"] == "dense"]
    layer4 = tq[tq["stage"] == "layer4"]
    dram = (layer4["dram_read_bytes"] + layer4["dram_write_bytes"]).sum() / BEST.dram_bandwidth_bytes_per_cycle / 2
    assert f"{dram / 1000:.0f} k of layer 4's {layer4['cycles_total'].sum() / 2 / 1000:.0f} k cycles per image" in FLAT
    gains = (dense.groupby("stage")["cycles_total"].sum() / tq.groupby("stage")["cycles_total"].sum()).to_dict()
    early = sorted(f"{gains[stage]:.1f}" for stage in ("layer1", "layer2", "layer3"))
    assert f"it gains {gains['layer4']:.2f}× where layers 1–3 gain {early[0]}×–{early[-1]}×" in FLAT


def test_dense_resnet18_against_buffer_size():
    network = accelsim.get_network("resnet18")
    cycles = {kib: accelsim.run(network, SMALL.replace(dram_bandwidth_bytes_per_cycle=32.0, ifmap_sram_kib=kib,
                                                       filter_sram_kib=kib, ofmap_sram_kib=kib)).summary
              ["cycles_total"].iloc[0] for kib in (64.0, 512.0, 4096.0)}
    assert f"{cycles[512.0] / 1e6:.2f}" == f"{cycles[4096.0] / 1e6:.2f}"  # "with 512 KiB and with 4 MiB"
    assert (f"{cycles[64.0] / 1e6:.2f} M cycles with 64 KiB per SRAM, {cycles[512.0] / 1e6:.2f} M with 512 KiB and "
            "with 4 MiB") in FLAT


def test_the_default_memory_peaks_at_four_slices(study):
    speedups = {slices: study(SMALL.replace(array_slices=slices))["speedup_vs_dense"] for slices in (2, 4, 8, 16, 32)}
    assert max(speedups, key=speedups.get) == 4
    best = study(SMALL.replace(array_slices=4))
    assert (f"peaks at P = 4 ({x(best['speedup_vs_dense'])}), with stalls "
            f"{best['lost_stall'] / best['cycles_total']:.0%} of its cycles").replace("%", " %") in FLAT


def test_the_ports_table(study):
    cells = cells_of("task-queue, 64 slices of 16 rows", STUDY, prefix="  | ")
    lost = cells_of("cycles lost to the ports (`lost_sram`, 2 images)", STUDY, prefix="  | ")
    points = [study(BEST.replace(ifmap_sram_banks=banks, filter_sram_banks=8)) for banks in (128, 96, 64, 48, 32)]
    assert [cell.split(" ")[0] for cell in cells[1:]] == [x(point["speedup_vs_dense"]) for point in points]

    def count(value: float) -> str:
        return "0" if value == 0 else f"{value / 1000:.0f} k" if value < 1e6 else f"{value / 1e6:.2f} M"

    assert lost[1:] == [count(point["lost_sram"]) for point in points]


def test_energy_against_p(study):
    slices = (2, 4, 8, 16, 32, 64)
    points = [LARGE.replace(array_slices=p, slice_rows=16 if p == 64 else 0, task_folds=1) for p in slices]
    energy = [study(point)["energy_per_image_uj"] / 1000 for point in points]
    dense = [study(point, "dense")["energy_per_image_uj"] / 1000 for point in points]
    listed = ", ".join(f"{value:.2f}" for value in energy[:-1]) + f" and {energy[-1]:.2f}"
    assert f"spends {listed} mJ per image at P = 2, 4, 8, 16, 32 and 64" in FLAT
    assert (f"against dense's {min(dense):.2f}–{max(dense):.2f} mJ on the same hardware "
            f"({study(LARGE, 'dense')['energy_per_image_uj'] / 1000:.2f} mJ on one array)") in FLAT
    change = [e / d - 1 for e, d in zip(energy, dense)]
    speed = [study(point)["speedup_vs_dense"] for point in points]
    assert all(value < 0 for value in change[:3]) and all(value > 0 for value in change[3:])
    assert (f"it saves {-change[0]:.0%}, {-change[1]:.0%} and {-change[2]:.0%} at P = 2, 4 and 8 "
            f"({x(speed[0])}, {x(speed[1])} and {x(speed[2])} faster) and spends {change[3]:.0%}, {change[4]:.0%} and "
            f"{change[5]:.0%} more at P = 16, 32 and 64").replace("%", " %") in FLAT


def test_the_ideal_costs_figure(study):
    ideal = BEST.replace(costs="ideal")
    best, dense = study(ideal)["energy_per_image_uj"] / 1000, study(ideal, "dense")["energy_per_image_uj"] / 1000
    assert (f"the best point spends {best:.2f} mJ against dense's {dense:.2f} mJ, {1 - best / dense:.0%} less"
            ).replace("%", " %") in FLAT


def test_the_shipped_resnet20_on_sliced_hardware():
    network = accelsim.get_network("resnet20-fmnist")
    with accelsim.open_trace(ROOT / "traces" / "resnet20-fmnist.npz") as trace:
        summary = accelsim.run(network, SMALL.replace(array_slices=32), ["task-queue"], trace,
                               images=slice(16, 48), calibration=slice(0, 16)).summary.set_index("scheduler")
    tq, dense = summary.loc["task-queue"], summary.loc["dense"]
    text = flat(README)
    assert (f"task-queue reaches {x(tq['speedup_vs_dense'])} at P = 32, energy {tq['energy_per_image_uj']:.0f} µJ per "
            f"image against dense's {dense['energy_per_image_uj']:.0f} µJ") in text
