"""The energy account: the engine's and the plan's counters times the technology table.

Sparseloop's vocabulary: *gated* work (clock-gated PEs of off outputs) saves energy but not
cycles; *skipped* work (folds never issued) saves both.

====================  =====================================================================
column                counter × table entry
====================  =====================================================================
energy_mac_pj         macs_executed × mac
energy_gated_mac_pj   clock-gated PE-cycles ((lost_granularity + lost_gated_idle) · R·C, less the
                      MACs off outputs ran before their decision) × gated_mac
energy_idle_pj        other PE-cycles without a MAC (fill, drain, partial tiles, stalls)
                      × idle_pe
energy_register_pj    macs_executed × accumulator bits × register_bit
energy_pe_to_pe_pj    pe_hop_bits × hop_bit
energy_crossbar_pj    crossbar_bytes · 8 × crossbar_bit (operands routed from the ifmap SRAM's
                      bank ports to the slices; 0 on one array)
energy_sram_<b>_pj    reads and writes of SRAM <b> (ifmap, filter, ofmap), in accesses of
                      ``sram_port_bits``, × sram_<b>_read / sram_<b>_write (on a sliced array
                      those of the ifmap SRAM at the capacity of one of its P banks)
energy_decision_pj    decision bits written and read back, in ofmap-SRAM accesses
energy_gate_pj        gate_compares × gate_compare
energy_dram_pj        (dram_read_bytes + dram_write_bytes) · 8 × dram_bit
energy_leakage_pj     cycles_total × leakage_cycle
energy_total_pj       the sum of the above
====================  =====================================================================

Accesses are bytes / (port bits / 8), an average that can be fractional.
"""

from __future__ import annotations

import pandas as pd

from accelsim.config import HardwareConfig
from accelsim.energy.table import SRAM_BUFFERS, EnergyTable, energy_table

ENERGY_COMPONENTS = ("mac", "gated_mac", "idle", "register", "pe_to_pe", "crossbar", "sram_ifmap",
                     "sram_filter", "sram_ofmap", "decision", "gate", "dram", "leakage")
ENERGY_COLUMNS = (*(f"energy_{name}_pj" for name in ENERGY_COMPONENTS), "energy_total_pj")


def add_energy(layers: pd.DataFrame, config: HardwareConfig, table: EnergyTable | None = None) -> pd.DataFrame:
    """``layers`` with the energy columns added (a copy)."""
    table = table or energy_table(config)
    pes = config.array_rows * config.array_cols
    access = config.sram_port_bits / 8
    # PEs of off outputs in folds that run, less those that ran a MAC before their decision
    gated_cycles = ((layers["lost_granularity"] + layers["lost_gated_idle"]) * pes
                    - (layers["macs_executed"] - layers["macs_needed"]))
    idle_cycles = (layers["cycles_total"] * pes - layers["macs_executed"] - gated_cycles).clip(lower=0)
    energy = {
        "mac": layers["macs_executed"] * table["mac"],
        "gated_mac": gated_cycles * table["gated_mac"],
        "idle": idle_cycles * table["idle_pe"],
        "register": layers["macs_executed"] * config.accumulator_bits * table["register_bit"],
        "pe_to_pe": layers["pe_hop_bits"] * table["hop_bit"],
        "crossbar": layers["crossbar_bytes"] * 8 * table["crossbar_bit"],
        **{f"sram_{buffer}": layers[f"{buffer}_sram_read_bytes"] / access * table[f"sram_{buffer}_read"]
           + layers[f"{buffer}_sram_write_bytes"] / access * table[f"sram_{buffer}_write"]
           for buffer in SRAM_BUFFERS},
        "decision": layers["decision_sram_bytes"] / 2 / access
        * (table["sram_ofmap_read"] + table["sram_ofmap_write"]),
        "gate": layers["gate_compares"] * table["gate_compare"],
        "dram": (layers["dram_read_bytes"] + layers["dram_write_bytes"]) * 8 * table["dram_bit"],
        "leakage": layers["cycles_total"] * table["leakage_cycle"],
    }
    layers = layers.copy()
    for name in ENERGY_COMPONENTS:
        layers[f"energy_{name}_pj"] = energy[name].astype(float)
    layers["energy_total_pj"] = layers[[f"energy_{name}_pj" for name in ENERGY_COMPONENTS]].sum(axis=1)
    return layers


def energy_summary(layers: pd.DataFrame) -> pd.DataFrame:
    """Per scheduler: energy per image, saving against dense, and energy-delay product (energy
    per image × cycles per image; a batch's cycles are shared by its images)."""
    per_scheduler = layers.groupby("scheduler", sort=False)
    batch = per_scheduler["batch"].first() if "batch" in layers else 1
    images = per_scheduler["image"].nunique() * batch
    energy_uj = per_scheduler["energy_total_pj"].sum() / images / 1e6
    cycles = per_scheduler["cycles_total"].sum() / images
    dense = energy_uj.get("dense", float("nan"))
    return pd.DataFrame({
        "energy_per_image_uj": energy_uj,
        "energy_saving_vs_dense": 1 - energy_uj / dense,
        "edp_uj_cycles": energy_uj * cycles,
    })


def sanity_ratios(table: EnergyTable, config: HardwareConfig) -> dict[str, float]:
    """Energy of moving one operand word from DRAM and from the ifmap SRAM, per MAC, to set
    beside Eyeriss's 200 : 6 : 1."""
    word = config.operand_bits
    sram_per_word = table["sram_ifmap_read"] * word / config.sram_port_bits
    return {"dram_per_mac": table["dram_bit"] * word / table["mac"], "sram_per_mac": sram_per_word / table["mac"]}
