"""Technology tables: the energy of every action, from a sourced profile, a node and widths.

A profile (``profiles/<name>.toml``) lists raw entries, each with its value, unit and source;
:func:`energy_table` resolves them for one hardware config into the energy of each action the
energy account charges. An SRAM with banks (``ifmap_sram_banks``, ``filter_sram_banks``) is
priced per access at one bank's capacity; without, on a sliced array (``array_slices`` = P > 1)
the ifmap SRAM is P banks of a P-th of its capacity, one per slice's port, and ``crossbar_bit``
prices the crossbar between them and the slices (``docs/energy.md``). The banks' routing across
the macro is not charged. Any raw entry or resolved action can be overridden from
the config's ``[energy]`` table; the printed table says which values were overridden.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from accelsim.arch.memory import sram_banks
from accelsim.errors import ConfigError
from accelsim.limits import MAX_ENERGY_PJ

if TYPE_CHECKING:  # pandas is imported where a table is made: the config checks need none
    import pandas as pd

PROFILES = ("accelergy45", "horowitz45")
SRAM_BUFFERS = ("ifmap", "filter", "ofmap")
#: bits of a task descriptor (layer, channel set, pixel range) and of a controller's loop counters
TASK_BITS, COUNTER_BITS = 64, 16


@cache
def load_profile(name: str) -> dict[str, Any]:
    """A profile's raw data, with its base profile's entries filled in (and marked)."""
    if name not in PROFILES:
        raise ConfigError(f"energy_profile: expected one of {', '.join(PROFILES)}, got {name!r}")
    with resources.files("accelsim.energy").joinpath("profiles").joinpath(f"{name}.toml").open("rb") as handle:
        profile = tomllib.load(handle)
    base_name = profile.get("base")
    if base_name:
        base = load_profile(base_name)
        inherited = {key: {**entry, "source": f"{entry['source']} [from {base_name}]"}
                     for key, entry in base["entries"].items() if key not in profile["entries"]}
        profile = {**base, **profile, "entries": {**inherited, **profile["entries"]}}
    for key, entry in profile["entries"].items():
        if not _sane(entry.get("value")):
            raise ConfigError(f"energy profile {name}: {key}: expected a non-negative number up to "
                              f"{MAX_ENERGY_PJ:g}, got {entry.get('value')!r}")
    return profile


def _sane(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= MAX_ENERGY_PJ)


@dataclass(frozen=True)
class Action:
    """One row of the table in force."""

    name: str
    value: float
    unit: str
    derivation: str


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action (pJ), resolved for one config; ``actions`` keeps units and sources."""

    actions: tuple[Action, ...]

    def __getitem__(self, name: str) -> float:
        for action in self.actions:
            if action.name == name:
                return action.value
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([vars(action) for action in self.actions])


def _sram_read(profile: dict, entries: dict, capacity_kb: float, node: int) -> tuple[float, str]:
    """pJ per 64-bit read of a one-bank SRAM of ``capacity_kb``."""
    if "sram_8kb_read" in entries:  # Horowitz's fit
        value = entries["sram_8kb_read"] * (capacity_kb / 8) ** 0.475
        return value * _logic_scale(profile, node), f"{entries['sram_8kb_read']:g}·(C/8 KB)^0.475"
    table = profile["sram"]
    column = f"nm{node}"
    scale, note = 1.0, f"CACTI {node} nm"
    if column not in table:  # not a CACTI column: scale the 45 nm one like logic
        column, scale = "nm45", _logic_scale(profile, node)
        note = f"CACTI 45 nm × logic scaling to {node} nm"
    value = _loglog(table["capacity_kb"], table[column], capacity_kb, entries["sram_capacity_exponent"])
    return value * scale, f"{note}, {capacity_kb:g} KB, interpolated in log-log"


def _loglog(xs: list[float], ys: list[float], x: float, exponent: float) -> float:
    """``ys`` at ``x``: a straight line in log-log between the table points around it, and
    beyond the table ``y ∝ x^exponent`` from its last point."""
    if x <= xs[0]:
        return ys[0] * (x / xs[0]) ** exponent
    if x >= xs[-1]:
        return ys[-1] * (x / xs[-1]) ** exponent
    upper = next(i for i, size in enumerate(xs) if size >= x)
    lower = upper - 1
    t = math.log(x / xs[lower]) / math.log(xs[upper] / xs[lower])
    return ys[lower] ** (1 - t) * ys[upper] ** t


def _banked(profile: dict, quantity: str, capacity_kb: float, banks: int, node: int) -> tuple[float, float, str]:
    """CACTI's ``quantity`` (``read``: pJ per 64-bit access, ``area``: mm²) of an SRAM of
    ``capacity_kb`` in ``banks`` banks, and of the same SRAM in one bank; in log-log between the
    table's capacities and bank counts, beyond its capacities ``∝ capacity^x`` (reads: the
    profile's exponent; area: 1), from the smallest SRAM the table has of that bank count (a bank
    of at least 64 rows)."""
    table = profile["sram_banked"]
    column, note = f"nm{node}_{quantity}", f"CACTI {node} nm"
    if column not in table:
        column, note = f"nm45_{quantity}", f"CACTI 45 nm scaled to {node} nm"
    sizes, counts, grid = table["capacity_kb"], table["banks"], table[column]
    exponent = profile["entries"]["sram_capacity_exponent"]["value"] if quantity == "read" else 1.0

    def at(bank_count: float) -> float:
        # banks below the smallest CACTI models (64 rows of 64 bits): no less than the SRAM in the
        # most banks the table has for its capacity (a bank's periphery does not shrink)
        fitting = max(count for count in counts if count == 1 or capacity_kb * 1024 / count >= 512)
        if bank_count > fitting:
            return max(raw(bank_count), at(fitting))
        return raw(bank_count)

    def raw(bank_count: float) -> float:
        upper = next(i for i, count in enumerate(counts) if count >= bank_count)
        picks = [upper] if counts[upper] == bank_count else [upper - 1, upper]
        values = []
        for pick in picks:
            # banks smaller than CACTI models: beyond the table, from its smallest SRAM of that count
            valid = [(size, grid[i][pick]) for i, size in enumerate(sizes) if grid[i][pick] > 0]
            values.append(_loglog([s for s, _ in valid], [v for _, v in valid], capacity_kb, exponent))
        if len(values) == 1:
            return values[0]
        t = math.log(bank_count / counts[picks[0]]) / math.log(counts[picks[1]] / counts[picks[0]])
        return values[0] ** (1 - t) * values[1] ** t

    return at(banks), at(1), f"{note}, {capacity_kb:g} KB in {banks} bank(s), interpolated in log-log"


def sram_table_point(profile: dict, raw: dict, quantity: str, buffer: str, capacity_kb: float, banks: int,
                     node: int) -> tuple[float, str]:
    """An SRAM's area (``quantity = "area"``, mm²) or read energy (``"read"``, pJ per 64-bit
    access) for its capacity and banks, with how it was derived. Reads: the profile's one-bank
    read × CACTI's banked read / its one-bank read (the bank's access plus the H-tree to it
    across the macro); area: CACTI's banked macro."""
    most = profile["sram_banked"]["banks"][-1]
    if banks > most:
        if buffer == "ofmap":  # sized to the slices' results, never given
            raise ConfigError(f"sram_port_bits: the ofmap SRAM needs {banks} banks for a row of results from "
                              f"every slice a cycle, beyond the {most} of the CACTI table; give wider ports or "
                              "fewer array columns")
        raise ConfigError(f"{buffer}_sram_banks: {banks} banks (given, or when 0 the banks the slices' streams "
                          f"need), beyond the {most} of the CACTI table; give fewer or wider ports (sram_port_bits)")
    banked, single, note = _banked(profile, quantity, capacity_kb, banks, node)
    if quantity == "area":
        if f"nm{node}_area" not in profile["sram_banked"]:
            banked *= (node / 45) ** 2
        return banked, note
    one_bank, one_note = _sram_read(profile, raw, capacity_kb, node)
    if banks == 1:
        return one_bank, one_note
    return one_bank * banked / single, f"{one_note} × banked/one-bank {banked / single:.3f} ({note})"


def _crossbar_bit(config, raw: dict, entries: dict, logic: float) -> Action:
    """pJ per bit routed from the ifmap SRAM's P bank ports to the P slices: the port's line
    across (P − 1)/P of the array's width (C PEs at the PE pitch), which a matrix crossbar
    drives whatever the destination, and the ceil(log2 P) 2:1 multiplexer stages of the
    slice's P:1 input select, each charged as one bitwise op per bit. 0 on one array."""
    slices = config.array_slices
    if slices == 1:
        return Action("crossbar_bit", 0.0, "pJ per bit routed through the slices' crossbar",
                      "no crossbar: array_slices = 1")
    span_mm = config.array_cols * raw["pe_pitch_mm"] * (slices - 1) / slices
    stages = math.ceil(math.log2(slices))
    bits = entries["bitwise"]["bits"]
    value = raw["wire_per_bit_mm"] * span_mm + stages * raw["bitwise"] / bits * logic
    return Action("crossbar_bit", value, "pJ per bit routed through the slices' crossbar",
                  f"wire {raw['wire_per_bit_mm']:g} pJ/bit/mm × {config.array_cols} columns × pitch "
                  f"{raw['pe_pitch_mm']:g} mm × ({slices}−1)/{slices} + 2:1 stages ⌈log2 {slices}⌉ = "
                  f"{stages} × bitwise {raw['bitwise']:g}/{bits} × {logic:g}")


def _control(config, raw: dict, entries: dict, logic: float) -> tuple[Action, Action]:
    """What the slices' control costs: per task through the queue (generated from the decisions
    by a counter's step, written into the queue and read out, the dispatcher's select over the
    queue: one compare per entry but one under longest-first) and per slice-cycle (a controller's
    loop counter steps)."""
    counter = raw["counter"] * COUNTER_BITS / entries["counter"]["bits"] * logic
    compare = raw["comparator"] * COUNTER_BITS / entries["comparator"]["bits"] * logic
    selects = config.queue_depth_tasks - 1 if config.dispatch == "longest-first" else 0
    queue = 2 * TASK_BITS * raw["register_per_bit"] * logic
    return (Action("task_event", counter + queue + selects * compare, "pJ per task through the queue",
                   f"generation: counter {raw['counter']:g}·{COUNTER_BITS}/{entries['counter']['bits']} + queue write and "
                   f"read 2 × {TASK_BITS} bits × register {raw['register_per_bit']:g} + select {selects} × comparator "
                   f"{raw['comparator']:g}·{COUNTER_BITS}/{entries['comparator']['bits']}"),
            Action("controller_cycle", counter, "pJ per slice per cycle",
                   f"a loop counter's step: counter {raw['counter']:g}·{COUNTER_BITS}/{entries['counter']['bits']}"))


def _logic_scale(profile: dict, node: int) -> float:
    scaling = {int(key): value for key, value in profile["logic_scaling"].items() if key != "source"}
    if node not in scaling:
        raise ConfigError(f"technology_nm: expected one of {', '.join(map(str, sorted(scaling)))}, got {node}")
    return scaling[node] / scaling[45]


def energy_table(config) -> EnergyTable:
    """The energy of every action for ``config`` (profile, node, widths, SRAM sizes, DRAM
    type, clock, overrides). Every action must come out a finite number of at most
    :data:`~accelsim.limits.MAX_ENERGY_PJ` pJ, so that no total overflows."""
    try:
        table = _resolve(config)
    except (OverflowError, ZeroDivisionError) as error:  # e.g. an overridden exponent
        raise ConfigError(f"energy: the overridden entries give no finite energy table ({error.args[-1]})") from None
    for action in table.actions:
        if not _sane(action.value):
            raise ConfigError(f"energy.{action.name}: resolves to {action.value:g} pJ; expected a "
                              f"non-negative number up to {MAX_ENERGY_PJ:g} (check the sizes, clock and [energy] entries)")
    return table


def _resolve(config) -> EnergyTable:
    profile = load_profile(config.energy_profile)
    raw = {key: entry["value"] for key, entry in profile["entries"].items()}
    overrides = dict(config.energy_overrides)
    raw.update({key: value for key, value in overrides.items() if key in raw})
    if config.costs == "ideal":  # the idealised model: wires free
        raw["pe_pitch_mm"] = 0.0
    node = config.technology_nm
    logic = _logic_scale(profile, node)
    n, a = config.operand_bits, config.accumulator_bits
    entries = profile["entries"]
    multiplier = raw["multiplier"] * (n / entries["multiplier"]["bits"]) ** 2
    adder = raw["adder"] * a / entries["adder"]["bits"]
    mac = (multiplier + adder) * logic
    like_mac = mac / (raw["mac_16bit_reference"] * logic)
    port = (config.sram_port_bits / 64) ** raw["sram_port_exponent"]
    hop_bit = (raw["register_per_bit"] * logic + raw["wire_per_bit_mm"] * raw["pe_pitch_mm"])
    actions = [
        Action("mac", mac, "pJ per MAC", f"multiplier {raw['multiplier']:g}·({n}/{entries['multiplier']['bits']})² "
               f"+ adder {raw['adder']:g}·{a}/{entries['adder']['bits']}, × {logic:g} for {node} nm"),
        Action("gated_mac", raw["gated_mac_16bit"] * like_mac * logic, "pJ per clock-gated PE-cycle",
               f"{raw['gated_mac_16bit']:g} at 16 bit, scaled like the MAC"),
        Action("idle_pe", raw["idle_pe_16bit"] * like_mac * logic, "pJ per idle PE-cycle",
               f"{raw['idle_pe_16bit']:g} at 16 bit, scaled like the MAC"),
        Action("register_bit", raw["register_per_bit"] * logic, "pJ per bit written to an accumulator",
               f"register {raw['register_per_bit']:g} pJ/bit"),
        Action("hop_bit", hop_bit, "pJ per bit moved PE to PE",
               f"register {raw['register_per_bit']:g} pJ/bit + wire {raw['wire_per_bit_mm']:g} pJ/bit/mm "
               f"× pitch {raw['pe_pitch_mm']:g} mm"),
        _crossbar_bit(config, raw, entries, logic),
        Action("gate_compare", raw["comparator"] * a / entries["comparator"]["bits"] * logic, "pJ per compare",
               f"comparator {raw['comparator']:g}·{a}/{entries['comparator']['bits']}"),
        *_control(config, raw, entries, logic),
    ]
    charged_banks = sram_banks(config) if config.costs == "charged" else None
    for buffer in SRAM_BUFFERS:
        kib = getattr(config, f"{buffer}_sram_kib")
        if charged_banks:  # the macro of its banks: a bank's access and the H-tree across the macro
            read, note = sram_table_point(profile, raw, "read", buffer, kib, charged_banks[buffer], node)
        else:  # the idealised model: a bank's access alone, one bank per slice's port (ifmap)
            banks = getattr(config, f"{buffer}_sram_banks", 0) or (config.array_slices if buffer == "ifmap" else 1)
            read, note = _sram_read(profile, raw, kib / banks, node)
            if banks > 1:
                note = f"one of {banks} banks of {kib:g}/{banks} KB, routing free: {note}"
        actions.append(Action(f"sram_{buffer}_read", read * port, f"pJ per {config.sram_port_bits}-bit read",
                              f"{note}, × ({config.sram_port_bits}/64)^{raw['sram_port_exponent']:g}"))
        actions.append(Action(f"sram_{buffer}_write", read * port * raw["sram_write_factor"],
                              f"pJ per {config.sram_port_bits}-bit write", f"read × {raw['sram_write_factor']:g}"))
    if "dram_per_bit" in raw:
        dram, note = raw["dram_per_bit"], f"{entries['dram_per_bit']['source']} (dram_type does not apply)"
    else:
        types = {key: value for key, value in profile["dram_pj_per_bit"].items() if key != "source"}
        if config.dram_type not in types:
            raise ConfigError(f"dram_type: expected one of {', '.join(types)}, got {config.dram_type!r}")
        dram, note = types[config.dram_type], f"{config.dram_type}, {profile['dram_pj_per_bit']['source']}"
    actions.append(Action("dram_bit", dram, "pJ per bit", note))
    sram_mb = sum(getattr(config, f"{buffer}_sram_kib") for buffer in SRAM_BUFFERS) / 1024
    leak_mw = raw["sram_leakage_per_mb"] * sram_mb
    pes = config.array_rows * config.array_cols
    leakage = leak_mw * 1e3 / config.clock_mhz + raw["pe_leakage"] * pes * logic
    actions.append(Action("leakage_cycle", leakage, "pJ per cycle",
                          f"SRAM {raw['sram_leakage_per_mb']:g} mW/MB × {sram_mb:g} MB at {config.clock_mhz:g} MHz "
                          f"+ PE {raw['pe_leakage']:g} pJ × {pes} PEs"))
    resolved = {action.name for action in actions}
    unknown = sorted(set(overrides) - set(raw) - resolved)
    if unknown:
        raise ConfigError(f"energy.{unknown[0]}: unknown entry; expected one of: "
                          f"{', '.join(sorted(set(raw) | resolved))}")
    actions = [Action(action.name, float(overrides[action.name]), action.unit, "overridden in the config")
               if action.name in overrides else action for action in actions]
    return EnergyTable(tuple(actions))


def profile_sources(name: str, overrides: dict[str, float] | None = None) -> pd.DataFrame:
    """The raw entries of a profile in force, with their units and sources."""
    import pandas as pd

    profile = load_profile(name)
    overrides = overrides or {}
    return pd.DataFrame([{"entry": key, "value": overrides.get(key, entry["value"]), "unit": entry["unit"],
                          "source": "overridden in the config" if key in overrides else entry["source"]}
                         for key, entry in profile["entries"].items()])
