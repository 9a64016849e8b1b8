"""Hardware configuration: a frozen, self-validating dataclass and TOML load/save (SCALE-Sim
``.cfg`` files are read by :mod:`accelsim.scalesim_config`).

Units are part of every field name (``_kib``, ``_bytes_per_cycle``, ``_cycles``, ``_mhz``,
``_bits``, ``_bytes``). A TOML file holds the same keys at its top level; any key may be left
out (its default applies) and unknown keys are rejected.
"""

from __future__ import annotations

import math
import numbers
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from accelsim.arch.dataflow import DATAFLOWS
from accelsim.arch.timing import TIMINGS
from accelsim.errors import ConfigError
from accelsim.limits import (BANDWIDTH_RANGE, CLOCK_MHZ_RANGE, MAX_CONFIG_BYTES, MAX_ENERGY_PJ,
                             SRAM_KIB_RANGE, read_bounded)


MAX_ARRAY_SIDE = 1 << 16  # PEs along one side; larger arrays are surely a typo


#: Which stage of the pipeline reads a field: ``plan`` (the schedulers: what a fold plan depends
#: on), ``memory`` (the engine's memory model, which the calibrated fallback also runs when it
#: plans) or ``account`` (energy and the report, after the engine). ``accelsim.simulate.plan_key``
#: is derived from these tags; tests/test_plan_keys.py checks that no other field changes a plan.
STAGES = ("plan", "memory", "account")


def _describe(text: str, kind: str, allow_inf: bool = False,
              bounds: tuple[float, float] | None = None, *, stage: str) -> dict[str, Any]:
    return {"doc": text, "kind": kind, "allow_inf": allow_inf, "bounds": bounds, "stage": stage}


@dataclass(frozen=True)
class HardwareConfig:
    """One accelerator: array, dataflow, on-chip buffers, DRAM, clock and number formats.

    The defaults (printed by ``accelsim config``) describe a 32×32 output-stationary array of
    8-bit MACs with 32-bit accumulators at 1 GHz, three 64 KiB double-buffered SRAMs and an
    LPDDR4-class DRAM interface of 16 bytes/cycle with 100 cycles of latency.
    """

    array_rows: int = field(default=32, metadata=_describe("PE rows (R)", "side", stage="plan"))
    array_cols: int = field(default=32, metadata=_describe("PE columns (C)", "side", stage="plan"))
    dataflow: str = field(default="os", metadata=_describe("os, ws or is", "dataflow", stage="plan"))
    timing: str = field(default="pipelined", metadata=_describe(
        "cycle-counting convention: pipelined (folds overlap fill and drain), physical or scalesim",
        "timing", stage="plan"))
    gate_latency_cycles: int = field(default=2, metadata=_describe(
        "cycles from a complete base partial sum to its decision taking effect (compare, then "
        "latch the decision bit)", "latency", stage="plan"))
    fallback: str = field(default="calibrated", metadata=_describe(
        "per gated layer, run it in one pass where two would be slower on the calibration "
        "images (calibrated), or always in two (off)", "fallback", stage="plan"))
    array_slices: int = field(default=1, metadata=_describe(
        "slices of the array (P): each runs its own work from its own input port; 1 is one "
        "array. Slices of all R rows split the C columns (P divides C); see slice_rows", "count", stage="plan"))
    slice_rows: int = field(default=0, metadata=_describe(
        "PE rows of one slice (divides R; 0: all R). The array's R / slice_rows bands of rows "
        "are each split into P·slice_rows / R slices of columns", "count", stage="plan"))
    queue_depth_tasks: int = field(default=16, metadata=_describe(
        "entries of the task queue that feeds the slices (task-queue scheduler): the tasks a "
        "dispatch policy chooses among", "count", stage="plan"))
    task_folds: int = field(default=0, metadata=_describe(
        "size of a conditional task (task-queue): at most task_folds × (a slice's rows) of its channel set's "
        "active pixels (IS: of its pixel set's active channels), one row tile's worth under OS; "
        "finer tasks balance the slices; 0: one task per set", "count", stage="plan"))
    dispatch_latency_cycles: int = field(default=1, metadata=_describe(
        "cycles from a slice taking a task to the task's first fold (the dispatcher's select over "
        "the queue and the task's descriptor latched into the slice: one register stage); a slice "
        "takes its next task when its last fold starts, so this shows only where a slice waits for "
        "work (task-queue only)", "latency", stage="plan"))
    task_generation_cycles: int = field(default=1, metadata=_describe(
        "cycles the gate unit takes to write one conditional task from a set's decisions: the "
        "k-th conditional task of a set waits k × this beyond the decisions and the gate latency "
        "(one descriptor a cycle; task-queue only)", "latency", stage="plan"))
    queue_refill_cycles: int = field(default=1, metadata=_describe(
        "cycles between two tasks entering the task queue (its one write port: one a cycle); the "
        "queue holds its first queue_depth_tasks tasks when a phase starts, and a freed entry takes "
        "the next task no sooner than this after the last one entered (task-queue only)",
        "latency", stage="plan"))
    dispatch: str = field(default="longest-first", metadata=_describe(
        "task-queue dispatch policy: in-order (first queued first) or longest-first (the longest "
        "queued task first)", "dispatch", stage="plan"))
    ifmap_sram_kib: float = field(default=64.0, metadata=_describe(
        "input feature-map SRAM, KiB (both halves of the double buffer)", "positive", bounds=SRAM_KIB_RANGE, stage="memory"))
    filter_sram_kib: float = field(default=64.0, metadata=_describe(
        "filter SRAM, KiB (both halves of the double buffer)", "positive", bounds=SRAM_KIB_RANGE, stage="plan"))
    ofmap_sram_kib: float = field(default=64.0, metadata=_describe(
        "output/partial-sum SRAM, KiB (both halves of the double buffer)", "positive", bounds=SRAM_KIB_RANGE, stage="plan"))
    ifmap_sram_banks: int = field(default=0, metadata=_describe(
        "banks of the input feature-map SRAM, each with one sram_port_bits read port; the P slices "
        "share the ports evenly (time-division), so a slice streams at most banks · sram_port_bits / P "
        "bits a cycle from it and a fold that needs more streams longer; 0: as many as the streams "
        "need (no limit in cycles)", "count", stage="memory"))
    filter_sram_banks: int = field(default=0, metadata=_describe(
        "banks of the filter SRAM, as ifmap_sram_banks", "count", stage="memory"))
    dram_bandwidth_bytes_per_cycle: float = field(default=16.0, metadata=_describe(
        "DRAM bandwidth, bytes per array cycle (inf: never a stall)", "positive", allow_inf=True,
        bounds=BANDWIDTH_RANGE, stage="memory"))
    dram_latency_cycles: int = field(default=100, metadata=_describe(
        "DRAM latency, array cycles", "count", stage="memory"))
    clock_mhz: float = field(default=1000.0, metadata=_describe("array clock, MHz", "positive",
                                                                  bounds=CLOCK_MHZ_RANGE, stage="account"))
    operand_bits: int = field(default=8, metadata=_describe("bits per input and weight", "bits", stage="plan"))
    accumulator_bits: int = field(default=32, metadata=_describe(
        "bits per partial sum / accumulator", "bits", stage="plan"))
    word_bytes: int = field(default=1, metadata=_describe(
        "bytes per memory word (SCALE-Sim's Bandwidth is in words/cycle)", "bits", stage="account"))
    energy_profile: str = field(default="accelergy45", metadata=_describe(
        "energy table: accelergy45 or horowitz45 (accelsim energy-table prints it)", "profile", stage="account"))
    technology_nm: int = field(default=45, metadata=_describe(
        "technology node, nm: scales logic energy (and selects the SRAM table column)", "bits", stage="account"))
    dram_type: str = field(default="LPDDR4", metadata=_describe(
        "DRAM type for pJ/bit: LPDDR4, HBM2, GDDR5, HMC, LPDDR, DDR3", "text", stage="account"))
    sram_port_bits: int = field(default=64, metadata=_describe(
        "SRAM port width, bits per access (per bank where the SRAM has banks)", "bits", stage="memory"))
    costs: str = field(default="charged", metadata=_describe(
        "charged: every cost the model has (SRAM ports where banks are set, wires at the profile's "
        "PE pitch); ideal: the earlier, idealised model (no SRAM port limits, wires free), to "
        "reproduce its figures beside the charged ones", "costs", stage="memory"))
    energy_overrides: tuple[tuple[str, float], ...] = field(default=(), metadata=_describe(
        "[energy] table: entry = value, overriding any energy table entry", "overrides", stage="account"))

    def __post_init__(self) -> None:
        for name in ("array_slices", "queue_depth_tasks"):  # narrower than a count: checked first, one message
            _integer(name, getattr(self, name), 1, 1 << 20)
        for spec in fields(self):
            value = _VALIDATORS[spec.metadata["kind"]](spec.name, getattr(self, spec.name), spec.metadata)
            object.__setattr__(self, spec.name, value)
        if self.slice_rows and self.array_rows % self.slice_rows:
            raise ConfigError(f"slice_rows: expected a divisor of array_rows ({self.array_rows}) or 0, "
                              f"got {self.slice_rows}")
        bands = self.array_rows // self.rows_per_slice
        if self.array_slices % bands or self.array_cols % (self.array_slices // bands):
            raise ConfigError(f"array_slices: expected a divisor of array_cols ({self.array_cols}) times the "
                              f"bands of rows ({self.array_rows} / {self.rows_per_slice} = {bands}), "
                              f"got {self.array_slices}")
        if self.accumulator_bits < self.operand_bits:
            raise ConfigError(f"accumulator_bits: expected at least operand_bits "
                              f"({self.operand_bits}), got {self.accumulator_bits}")

    def replace(self, **changes: Any) -> HardwareConfig:
        """A copy with some fields changed (validated like any other config)."""
        unknown = sorted(set(changes) - set(FIELD_NAMES))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown key; expected one of: {', '.join(FIELD_NAMES)}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def rows_per_slice(self) -> int:
        """Rows of one slice: ``slice_rows``, or all R."""
        return self.slice_rows or self.array_rows

    @property
    def slice_cols(self) -> int:
        """Columns of one slice: C / P with slices of all R rows; in general R·C / (P·rows)."""
        return self.array_cols * self.array_rows // (self.array_slices * self.rows_per_slice)

    @property
    def array(self) -> str:
        """``"ROWSxCOLS"``, as written on the command line."""
        return f"{self.array_rows}x{self.array_cols}"


FIELD_NAMES = tuple(spec.name for spec in fields(HardwareConfig))


def _shown(value: Any) -> str:
    """A value as an error message shows it: a numpy scalar as the Python number it holds
    (``nan``, not ``np.float64(nan)``)."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) and type(value).__module__ == "numpy" else value)


def _integer(name: str, value: Any, low: int, high: int) -> int:
    # any integer type (numpy's too, as a sweep's grid may hold), never a bool
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name}: expected an integer from {low} to {high}, got {_shown(value)}")
    return int(value)


def _positive(name: str, value: Any, meta: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or math.isnan(value) or value <= 0 or (math.isinf(value) and not meta["allow_inf"]):
        kind = "a positive number" + (" or inf" if meta["allow_inf"] else "")
        raise ConfigError(f"{name}: expected {kind}, got {_shown(value)}")
    low, high = meta["bounds"] or (0.0, math.inf)
    # outside these, cycle and energy totals overflow or lose all meaning
    if not math.isinf(value) and not low <= value <= high:
        raise ConfigError(f"{name}: expected a number from {low:g} to {high:g}"
                          + (" or inf" if meta["allow_inf"] else "") + f", got {_shown(value)}")
    return float(value)


def _text(name: str, value: Any, meta: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: expected a non-empty string, got {_shown(value)}")
    return value


def _profile(name: str, value: Any, meta: Any) -> str:
    from accelsim.energy.table import PROFILES

    if value not in PROFILES:
        raise ConfigError(f"{name}: expected one of {', '.join(PROFILES)}, got {_shown(value)}")
    return value


def _overrides(name: str, value: Any, meta: Any) -> tuple[tuple[str, float], ...]:
    pairs = value.items() if isinstance(value, dict) else value
    try:
        items = [(key, entry) for key, entry in pairs]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a table of entry = number") from None
    checked = []
    for key, entry in items:
        ok = (isinstance(entry, (int, float)) and not isinstance(entry, bool)
              and math.isfinite(entry) and 0 <= entry <= MAX_ENERGY_PJ)
        if not isinstance(key, str) or not ok:
            raise ConfigError(f"energy.{key}: expected a non-negative number up to {MAX_ENERGY_PJ:g}, "
                              f"got {entry!r}")
        checked.append((key, float(entry)))
    return tuple(sorted(checked))


#: How a skipping scheduler may fall back to the one-pass path, per gated layer.
FALLBACKS = ("calibrated", "off")
#: Which costs a run charges: all of them, or the idealised model's (see ``costs``).
COSTS = ("charged", "ideal")
#: How the task queue hands tasks to free slices (:mod:`accelsim.schedule.taskqueue`).
DISPATCH_POLICIES = ("in-order", "longest-first")


def _registered(registry: Any) -> Any:
    def check(name: str, value: Any, meta: Any) -> str:
        if not isinstance(value, str) or value not in registry:
            names = registry.names() if hasattr(registry, "names") else registry
            raise ConfigError(f"{name}: expected one of {', '.join(names)}, got {_shown(value)}")
        return value
    return check


_VALIDATORS = {
    "side": lambda name, value, meta: _integer(name, value, 1, MAX_ARRAY_SIDE),
    "count": lambda name, value, meta: _integer(name, value, 0, 1 << 40),
    "bits": lambda name, value, meta: _integer(name, value, 1, 1024),
    "positive": _positive,
    "text": _text,
    "profile": _profile,
    "overrides": _overrides,
    "dataflow": _registered(DATAFLOWS),
    "timing": _registered(TIMINGS),
    "latency": lambda name, value, meta: _integer(name, value, 0, 1 << 20),
    "fallback": _registered(FALLBACKS),
    "dispatch": _registered(DISPATCH_POLICIES),
    "costs": _registered(COSTS),
}


DEFAULT_CONFIG = HardwareConfig()


# -- TOML -----------------------------------------------------------------------------------
def config_from_dict(values: dict[str, Any], base: HardwareConfig = DEFAULT_CONFIG) -> HardwareConfig:
    """``base`` with the given keys changed; keys are the field names, and an ``energy``
    table holds energy-table overrides."""
    values = dict(values)
    if "energy" in values:
        values["energy_overrides"] = values.pop("energy")
    return base.replace(**values)


def load_config(path: str | Path, base: HardwareConfig = DEFAULT_CONFIG) -> HardwareConfig:
    """Read a TOML hardware config; errors name the file and the key."""
    path = Path(path)
    try:
        values = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    try:
        config = config_from_dict(values, base)
        from accelsim.energy.table import energy_table  # the energy section is checked here too

        energy_table(config)
        return config
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def read_config_text(path: Path) -> str:
    """A config file's text; a missing, unreadable, non-regular or oversized file is a
    :class:`ConfigError`."""
    data = read_bounded(path, ConfigError, MAX_CONFIG_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: cannot be read ({type(error).__name__})") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return repr(value)


def dumps_config(config: HardwareConfig) -> str:
    """The config as TOML, one key per line with its unit and meaning as a comment."""
    lines = ["# accelsim hardware configuration"]
    for spec in fields(config):
        if spec.name == "energy_overrides":
            continue
        value = _toml_value(getattr(config, spec.name))
        lines.append(f"{spec.name} = {value}".ljust(44) + f"# {spec.metadata['doc']}")
    lines += ["", "[energy]  # overrides of energy-table entries, pJ (accelsim energy-table lists them)"]
    lines += [f"{key} = {value!r}" for key, value in config.energy_overrides]
    return "\n".join(lines) + "\n"


def save_config(config: HardwareConfig, path: str | Path) -> None:
    Path(path).write_text(dumps_config(config))


# -- command-line overrides -----------------------------------------------------------------
def parse_array(text: str) -> tuple[int, int]:
    """``"32x16"`` → ``(32, 16)`` (rows, columns)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text, re.ASCII)
    if match:
        rows, cols = int(match[1]), int(match[2])
        if 0 < rows <= MAX_ARRAY_SIDE and 0 < cols <= MAX_ARRAY_SIDE:
            return rows, cols
    raise ConfigError(f"--array: expected ROWSxCOLS with integers from 1 to {MAX_ARRAY_SIDE} "
                      f"(e.g. 32x32), got {text!r}")
