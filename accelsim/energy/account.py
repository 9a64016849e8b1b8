"""The energy account: the engine's and the plan's counters times the technology table.

Sparseloop's vocabulary: *gated* work (clock-gated PEs of off outputs) saves energy but not
cycles; *skipped* work (folds never issued) saves both.

Each component is declared once in :data:`COMPONENTS`: its column ``energy_<name>_pj``, what
it counts and which table entry prices it, its colour in the figures and whether the printed
breakdown shows it. The account, the result tables' columns (:mod:`accelsim.columns`), the
printed breakdown and the figures all read that declaration. ``energy_total_pj`` is their sum.
Accesses are bytes / (port bits / 8), an average that can be fractional.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from accelsim.config import HardwareConfig
from accelsim.energy.table import SRAM_BUFFERS, EnergyTable, energy_table


@dataclass(frozen=True)
class _Counts:
    """What a component's energy is computed from: the layers table, the config, the table and
    the PE-cycles of the array split by what they did."""

    layers: pd.DataFrame
    config: HardwareConfig
    table: EnergyTable

    @property
    def access(self) -> float:
        return self.config.sram_port_bits / 8

    @property
    def gated_cycles(self) -> pd.Series:
        """PEs of off outputs in folds that run, less those that ran a MAC before their decision."""
        layers, pes = self.layers, self.config.array_rows * self.config.array_cols
        return ((layers["lost_granularity"] + layers["lost_gated_idle"]) * pes
                - (layers["macs_executed"] - layers["macs_needed"]))

    @property
    def idle_cycles(self) -> pd.Series:
        layers, pes = self.layers, self.config.array_rows * self.config.array_cols
        return (layers["cycles_total"] * pes - layers["macs_executed"] - self.gated_cycles).clip(lower=0)

    def sram(self, buffer: str) -> pd.Series:
        layers, table = self.layers, self.table
        return (layers[f"{buffer}_sram_read_bytes"] / self.access * table[f"sram_{buffer}_read"]
                + layers[f"{buffer}_sram_write_bytes"] / self.access * table[f"sram_{buffer}_write"])


@dataclass(frozen=True)
class Component:
    """One energy component: ``energy_<name>_pj``."""

    name: str
    meaning: str  #: what it counts, for the tables' docs
    priced: str  #: counter × table entry
    colour: str  #: in every figure (qualitative, no two alike)
    energy: Callable[[_Counts], pd.Series]
    in_breakdown: bool = True  #: shown in the printed breakdown of ``accelsim run``

    @property
    def column(self) -> str:
        return f"energy_{self.name}_pj"


COMPONENTS: tuple[Component, ...] = (
    Component("mac", "MACs executed", "MACs executed × mac", "#1f77b4",
              lambda c: c.layers["macs_executed"] * c.table["mac"]),
    Component("gated_mac", "clock-gated PE-cycles of off outputs",
              "clock-gated PE-cycles (off outputs inside folds that run, less the MACs they ran "
              "before their decision) × gated_mac", "#17becf", lambda c: c.gated_cycles * c.table["gated_mac"]),
    Component("idle", "the other PE-cycles without a MAC (fill, drain, partial tiles, stalls)",
              "all other PE-cycles without a MAC (fill, drain, partial tiles, stalls) × idle_pe", "#bcbd22", lambda c: c.idle_cycles * c.table["idle_pe"]),
    Component("register", "accumulator updates", "MACs × a bits × register_bit (the accumulator update; in WS/IS that is the partial "
              "sum passed to the next PE, not charged twice)", "#ff7f0e",
              lambda c: c.layers["macs_executed"] * c.config.accumulator_bits * c.table["register_bit"]),
    Component("pe_to_pe", "`pe_hop_bits`", "operand bits moved between PEs, and OS results drained, × hop_bit: a token entering a "
              "side crosses the whole array (an upper bound for drains). A hop is a register write and a wire "
              "of one PE pitch: 0.176 pJ per 8-bit word at the default 0.04 mm (0.072 pJ without the wire), "
              "below Eyeriss's 2× a MAC", "#9467bd",
              lambda c: c.layers["pe_hop_bits"] * c.table["hop_bit"]),
    Component("crossbar", "`crossbar_bytes` through the slices' crossbar (0 when `array_slices` = 1)",
              "`crossbar_bytes` · 8 × crossbar_bit: input operands read from the ifmap SRAM's banks "
              "into the slices (0 on one array)", "#98df8a",
              lambda c: c.layers["crossbar_bytes"] * 8 * c.table["crossbar_bit"]),
    Component("networks", "`network_bytes` through the slices' weight and output networks (0 when `array_slices` = 1)",
              "`network_bytes` · 8 × crossbar_bit: weights from the filter SRAM into the slices, partial sums "
              "and outputs between the slices and the ofmap SRAM, each over a line and select like the "
              "crossbar's (0 on one array)", "#c5b0d5",
              lambda c: c.layers["network_bytes"] * 8 * c.table["crossbar_bit"]),
    *(Component(f"sram_{buffer}", f"reads and writes of the {buffer} SRAM"
                + (" (at one of `array_slices` banks)" if buffer == "ifmap" else ""),
                f"reads and writes of the {buffer} SRAM in port-width accesses × sram_{buffer}_read, "
                f"sram_{buffer}_write ({note})", colour,
                lambda c, buffer=buffer: c.sram(buffer))
      for buffer, colour, note in zip(SRAM_BUFFERS, ("#2ca02c", "#8c564b", "#e377c2"), (
          "fills from DRAM are writes; on a sliced array every slice reads its own inputs, each "
          "access at one bank's energy", "fills from DRAM are writes",
          "partial sums added onto stored ones are reads"))),
    Component("decision", "decision bits written and read back",
              "decision bits written by the gate unit and read by the scheduler, as ofmap-SRAM "
              "accesses",
              "#1b2a6b", lambda c: c.layers["decision_sram_bytes"] / 2 / c.access
              * (c.table["sram_ofmap_read"] + c.table["sram_ofmap_write"]), in_breakdown=False),
    Component("gate", "`gate_compares`", "gate compares (one per output of a gated layer) × gate_compare", "#e6b800",
              lambda c: c.layers["gate_compares"] * c.table["gate_compare"], in_breakdown=False),
    Component("control", "the slices' controllers and the task queue",
              "`tasks` × task_event (generated, queued, selected and read out) + `cycles_total` × "
              "`array_slices` × controller_cycle (each slice's controller counting)", "#7f7f7f",
              lambda c: c.layers["tasks"] * c.table["task_event"]
              + c.layers["cycles_total"] * c.config.array_slices * c.table["controller_cycle"], in_breakdown=False),
    Component("dram", "DRAM bytes read and written", "DRAM bytes read and written × 8 × dram_bit",
              "#d62728", lambda c: (c.layers["dram_read_bytes"] + c.layers["dram_write_bytes"]) * 8
              * c.table["dram_bit"]),
    Component("leakage", "leakage over `cycles_total`", "cycles × leakage_cycle", "#222222",
              lambda c: c.layers["cycles_total"] * c.table["leakage_cycle"], in_breakdown=False),
)
ENERGY_COMPONENTS = tuple(component.name for component in COMPONENTS)
ENERGY_COLUMNS = (*(component.column for component in COMPONENTS), "energy_total_pj")


def add_energy(layers: pd.DataFrame, config: HardwareConfig, table: EnergyTable | None = None) -> pd.DataFrame:
    """``layers`` with the energy columns added (a copy)."""
    counts = _Counts(layers, config, table or energy_table(config))
    energy = {component.column: component.energy(counts).astype(float) for component in COMPONENTS}
    layers = layers.copy()
    for column, values in energy.items():
        layers[column] = values
    layers["energy_total_pj"] = layers[list(energy)].sum(axis=1)
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
