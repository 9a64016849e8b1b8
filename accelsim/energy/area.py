"""Area: every structure a design point needs, in mm², from the profile's sourced tables.

One row per component (:data:`AREA_COMPONENTS`), each with its figure and how it was derived:

* ``pe_array`` — R·C PEs, each a multiplier of n bits, an adder of a bits and 2n + 2a register
  bits (inputs, weight, accumulator and its shadow), Aladdin's 40 nm areas scaled by
  (node / 40)², over a placement density;
* ``sram_ifmap``, ``sram_filter``, ``sram_ofmap`` — the macros as CACTI 7 gives them for their
  capacity and bank count (:func:`accelsim.arch.memory.sram_banks`), H-tree included;
* ``crossbar`` — on a sliced array, the ifmap network: the time-division share rotates the
  banks among the slices, which a log-depth rotation (barrel) network does: every input bit of
  every slice through ⌈log2 P⌉ 2:1 stages (the stages the energy model charges; a full P:1
  select per bit would need P − 1), a 2:1 stage per bit priced as an Aladdin bitwise gate per
  bit (Aladdin has no multiplexer);
* ``networks`` — the weight and output networks of the slices, the same stages for each
  slice's top-edge input bits and bottom-edge output bits;
* ``controllers`` — one per slice (one on one array): three 16-bit loop counters and a 64-bit
  task descriptor;
* ``queue`` — on a sliced array, ``queue_depth_tasks`` 64-bit entries and, under
  ``longest-first``, the 16-bit comparators of the dispatcher's select (one per entry but one);
  task-queue on one slice (``array_slices`` = 1) runs its tasks through a queue whose area is
  not charged;
* ``gate_unit`` — one a-bit comparator and one a-bit threshold register per array column.

Wires are not charged area: they are routed over the logic and the SRAMs in the upper metal
layers (their energy is charged: ``crossbar_bit``, ``hop_bit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accelsim.arch.memory import sram_banks
from accelsim.energy.table import COUNTER_BITS, SRAM_BUFFERS, TASK_BITS, load_profile, sram_table_point

if TYPE_CHECKING:
    import pandas as pd

AREA_COMPONENTS = ("pe_array", *(f"sram_{buffer}" for buffer in SRAM_BUFFERS), "crossbar", "networks",
                   "controllers", "queue", "gate_unit")


@dataclass(frozen=True)
class AreaItem:
    """One component's area."""

    name: str
    mm2: float
    derivation: str


@dataclass(frozen=True)
class AreaTable:
    """The area of every component of one config (mm²); ``total_mm2`` is their sum."""

    items: tuple[AreaItem, ...]

    def __getitem__(self, name: str) -> float:
        for item in self.items:
            if item.name == name:
                return item.mm2
        raise KeyError(name)

    @property
    def total_mm2(self) -> float:
        return sum(item.mm2 for item in self.items)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([vars(item) for item in self.items])


def one_array_of(config):
    """The same design on one array: no slices, its SRAMs in the banks one array streams from
    (the given bank counts are the sliced design's), the same port width."""
    return config.replace(array_slices=1, slice_rows=0, ifmap_sram_banks=0, filter_sram_banks=0)


def area_table(config) -> AreaTable:
    """The area of every component of ``config`` (profile, node, widths, array, slices, SRAMs)."""
    profile = load_profile(config.energy_profile)
    raw = {key: entry["value"] for key, entry in profile["entries"].items()}
    entries = profile["entries"]
    node = config.technology_nm
    scale = (node / raw["logic_area_node_nm"]) ** 2 / raw["placement_density"]
    um2 = 1e-6  # mm² per µm²
    n, a = config.operand_bits, config.accumulator_bits

    def logic(name: str, bits: int) -> float:
        """µm² of one ``name`` unit of ``bits`` bits at the config's node, placed."""
        entry = entries[name]
        exponent = 2 if name == "multiplier_area" else 1
        return raw[name] * (bits / entry.get("bits", 1)) ** exponent * scale

    register = logic("register_area_per_bit", 1)
    mux_bit = logic("bitwise_area", 1)
    pe = logic("multiplier_area", n) + logic("adder_area", a) + (2 * n + 2 * a) * register
    pes = config.array_rows * config.array_cols
    slices = config.array_slices
    how_placed = f"× ({node}/{raw['logic_area_node_nm']:g} nm)² / density {raw['placement_density']:g}"
    items = [AreaItem("pe_array", pes * pe * um2,
                      f"{pes} PEs × {pe:,.0f} um2 (multiplier {n} b, adder {a} b, {2 * n + 2 * a} register "
                      f"bits; Aladdin 40 nm {how_placed})")]
    banks = sram_banks(config)
    for buffer in SRAM_BUFFERS:
        kib = getattr(config, f"{buffer}_sram_kib")
        mm2, note = sram_table_point(profile, raw, "area", buffer, kib, banks[buffer], node)
        items.append(AreaItem(f"sram_{buffer}", mm2, f"{kib:g} KiB in {banks[buffer]} bank(s): {note}"))
    stages = math.ceil(math.log2(slices)) if slices > 1 else 0
    rows, cols = config.rows_per_slice, config.slice_cols
    left, edges = slices * rows * n, slices * (cols * n + cols * a)
    stage_note = f"{stages} 2:1 stage(s) × {mux_bit:.2f} um2 a bit (Aladdin bitwise per bit {how_placed})"
    items.append(AreaItem("crossbar", left * stages * mux_bit * um2,
                          f"{slices} slices × {rows} input lanes × {n} b = {left} bits × {stage_note}"
                          if stages else "no crossbar: array_slices = 1"))
    items.append(AreaItem("networks", edges * stages * mux_bit * um2,
                          f"{slices} slices × ({cols} weight lanes × {n} b + {cols} output lanes × {a} b) = "
                          f"{edges} bits × {stage_note}" if stages else "no networks: array_slices = 1"))
    controller = 3 * logic("counter_area", COUNTER_BITS) + TASK_BITS * register
    items.append(AreaItem("controllers", slices * controller * um2,
                          f"{slices} × (3 counters of {COUNTER_BITS} b + {TASK_BITS} register bits) = "
                          f"{slices} × {controller:,.0f} um2 (Aladdin 40 nm {how_placed})"))
    depth = config.queue_depth_tasks if slices > 1 else 0
    compares = max(depth - 1, 0) if config.dispatch == "longest-first" else 0
    queue = depth * TASK_BITS * register + compares * logic("comparator_area", COUNTER_BITS)
    items.append(AreaItem("queue", queue * um2,
                          f"{depth} entries × {TASK_BITS} register bits + {compares} comparators of "
                          f"{COUNTER_BITS} b (Aladdin 40 nm {how_placed})" if depth else "no queue: array_slices = 1"))
    gate = config.array_cols * (logic("comparator_area", a) + a * register)
    items.append(AreaItem("gate_unit", gate * um2,
                          f"{config.array_cols} columns × (a comparator of {a} b + {a} threshold register bits)"))
    return AreaTable(tuple(items))


def format_area(table: AreaTable, summary: pd.DataFrame | None = None) -> str:
    """One line: the total, each component's share, and (given a summary) the area against one
    array and the best speedup per area."""
    total = table.total_mm2
    parts = ", ".join(f"{item.name} {item.mm2 / total:.0%}" for item in table.items if item.mm2 > 0)
    line = f"area {total:.3g} mm² ({parts})"
    if summary is not None and len(summary):
        ratio = float(summary["area_vs_one_array"].iloc[0])
        if abs(ratio - 1) > 1e-12:
            line += f"; {ratio:.3f}× one array's"
    return line + "; wires not charged area (accelsim energy-table: sources)"
