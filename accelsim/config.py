"""Hardware configuration: a frozen, self-validating dataclass, TOML load/save, and import of
SCALE-Sim ``.cfg`` files.

Units are part of every field name (``_kib``, ``_bytes_per_cycle``, ``_cycles``, ``_mhz``,
``_bits``, ``_bytes``). A TOML file holds the same keys at its top level; any key may be left
out (its default applies) and unknown keys are rejected.
"""

from __future__ import annotations

import configparser
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from accelsim.arch.dataflow import DATAFLOWS
from accelsim.arch.timing import TIMINGS
from accelsim.errors import ConfigError


def _describe(text: str, kind: str, minimum: float = 1) -> dict[str, Any]:
    return {"doc": text, "kind": kind, "minimum": minimum}


@dataclass(frozen=True)
class HardwareConfig:
    """One accelerator: array, dataflow, on-chip buffers, DRAM, clock and number formats.

    The defaults (printed by ``accelsim config``) describe a 32×32 output-stationary array of
    8-bit MACs with 32-bit accumulators at 1 GHz, three 64 KiB double-buffered SRAMs and an
    LPDDR4-class DRAM interface of 16 bytes/cycle with 100 cycles of latency.
    """

    array_rows: int = field(default=32, metadata=_describe("PE rows (R)", "int"))
    array_cols: int = field(default=32, metadata=_describe("PE columns (C)", "int"))
    dataflow: str = field(default="os", metadata=_describe("os, ws or is", "dataflow"))
    timing: str = field(default="physical", metadata=_describe(
        "cycle-counting convention: physical or scalesim", "timing"))
    ifmap_sram_kib: float = field(default=64.0, metadata=_describe(
        "input feature-map SRAM, KiB (both halves of the double buffer)", "float", 0))
    filter_sram_kib: float = field(default=64.0, metadata=_describe(
        "filter SRAM, KiB (both halves of the double buffer)", "float", 0))
    ofmap_sram_kib: float = field(default=64.0, metadata=_describe(
        "output/partial-sum SRAM, KiB (both halves of the double buffer)", "float", 0))
    dram_bandwidth_bytes_per_cycle: float = field(default=16.0, metadata=_describe(
        "DRAM bandwidth, bytes per array cycle (inf: never a stall)", "float", 0))
    dram_latency_cycles: int = field(default=100, metadata=_describe(
        "DRAM latency, array cycles", "int", 0))
    clock_mhz: float = field(default=1000.0, metadata=_describe("array clock, MHz", "float", 0))
    operand_bits: int = field(default=8, metadata=_describe("bits per input and weight", "int"))
    accumulator_bits: int = field(default=32, metadata=_describe(
        "bits per partial sum / accumulator", "int"))
    word_bytes: int = field(default=1, metadata=_describe(
        "bytes per memory word (SCALE-Sim's Bandwidth is in words/cycle)", "int"))

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check(spec.name, getattr(self, spec.name), spec.metadata)
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
    def array(self) -> str:
        """``"ROWSxCOLS"``, as written on the command line."""
        return f"{self.array_rows}x{self.array_cols}"


FIELD_NAMES = tuple(spec.name for spec in fields(HardwareConfig))


def _check(name: str, value: Any, meta: Any) -> None:
    kind, minimum = meta["kind"], meta["minimum"]
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            bound = "a positive" if minimum == 1 else "a non-negative"
            raise ConfigError(f"{name}: expected {bound} integer, got {value!r}")
    elif kind == "float":
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value)
                or value <= minimum):
            raise ConfigError(f"{name}: expected a positive number, got {value!r}")
    else:
        registry = {"dataflow": DATAFLOWS, "timing": TIMINGS}[kind]
        if value not in registry:
            raise ConfigError(f"{name}: expected one of {', '.join(registry.names())}, got {value!r}")


DEFAULT_CONFIG = HardwareConfig()


# -- TOML -----------------------------------------------------------------------------------
def config_from_dict(values: dict[str, Any], base: HardwareConfig = DEFAULT_CONFIG) -> HardwareConfig:
    """``base`` with the given keys changed; keys are the field names."""
    return base.replace(**values)


def load_config(path: str | Path, base: HardwareConfig = DEFAULT_CONFIG) -> HardwareConfig:
    """Read a TOML hardware config; errors name the file and the key."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    try:
        return config_from_dict(values, base)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except TypeError as error:  # dataclass rejects non-string keys, etc.
        raise ConfigError(f"{path}: {error}") from None


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
        value = _toml_value(getattr(config, spec.name))
        lines.append(f"{spec.name} = {value}".ljust(44) + f"# {spec.metadata['doc']}")
    return "\n".join(lines) + "\n"


def save_config(config: HardwareConfig, path: str | Path) -> None:
    Path(path).write_text(dumps_config(config))


# -- command-line overrides -----------------------------------------------------------------
def parse_array(text: str) -> tuple[int, int]:
    """``"32x16"`` → ``(32, 16)`` (rows, columns)."""
    parts = text.lower().split("x")
    if len(parts) == 2 and all(part.strip().isdigit() for part in parts):
        rows, cols = (int(part) for part in parts)
        if rows > 0 and cols > 0:
            return rows, cols
    raise ConfigError(f"--array: expected ROWSxCOLS with positive integers (e.g. 32x32), got {text!r}")


# -- SCALE-Sim .cfg -------------------------------------------------------------------------
SCALESIM_KEYS = {  # SCALE-Sim reads option names without regard to case
    "arrayheight": "array_rows",
    "arraywidth": "array_cols",
    "ifmapsramszkb": "ifmap_sram_kib",
    "filtersramszkb": "filter_sram_kib",
    "ofmapsramszkb": "ofmap_sram_kib",
    "dataflow": "dataflow",
}
SCALESIM_BANDWIDTH_KEYS = ("bandwidth", "interfacebandwidth")


def load_scalesim_config(path: str | Path, base: HardwareConfig = DEFAULT_CONFIG
                         ) -> tuple[HardwareConfig, list[str]]:
    """Read a SCALE-Sim ``.cfg``; returns the config and the keys it ignored.

    Read: ArrayHeight, ArrayWidth, the three SRAM sizes (SCALE-Sim's kB are KiB), Dataflow,
    Bandwidth (words/cycle, times ``word_bytes``) and InterfaceBandwidth (``CALC`` asks for the
    bandwidth that never stalls: an unbounded DRAM; ``USER`` uses Bandwidth). As in SCALE-Sim,
    option names are read without regard to case and values with it; unlike SCALE-Sim, a
    Dataflow other than ``os``, ``ws`` or ``is`` is an error (SCALE-Sim silently runs OS).
    """
    path = Path(path)
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keep names as written, for the note on ignored keys
    try:
        with path.open() as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except configparser.Error as error:
        raise ConfigError(f"{path}: not a valid SCALE-Sim config ({error.message.splitlines()[0]})") from None
    written = {key: value.strip() for section in parser.sections()
               for key, value in parser.items(section, raw=True)}
    found = {key.lower(): value for key, value in written.items()}
    original = {key.lower(): key for key in written}
    values: dict[str, Any] = {}
    for key, name in SCALESIM_KEYS.items():
        if key not in found:
            continue
        text = found[key]
        if name == "dataflow":
            values[name] = text
        else:
            values[name] = _number(path, original[key], text, integer=name.startswith("array"))
    mode = found.get("interfacebandwidth", "CALC")
    if mode not in ("CALC", "USER"):
        raise ConfigError(f"{path}: InterfaceBandwidth: expected CALC or USER, got {mode!r}")
    if mode == "CALC":
        values["dram_bandwidth_bytes_per_cycle"] = math.inf
    elif "bandwidth" in found:
        values["dram_bandwidth_bytes_per_cycle"] = (
            _number(path, "Bandwidth", found["bandwidth"], integer=False) * base.word_bytes)
    else:
        raise ConfigError(f"{path}: Bandwidth: expected a number when InterfaceBandwidth = USER")
    try:
        config = base.replace(**values)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    ignored = sorted(original[key] for key in found
                     if key not in SCALESIM_KEYS and key not in SCALESIM_BANDWIDTH_KEYS)
    return config, ignored


def _number(path: Path, key: str, text: str, integer: bool) -> float | int:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{path}: {key}: expected {kind}, got {text!r}") from None
