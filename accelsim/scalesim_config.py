"""Reading a SCALE-Sim ``.cfg`` file as a hardware config (:func:`load_scalesim_config`): the
options SCALE-Sim shares with :class:`~accelsim.config.HardwareConfig` are read, the others are
reported as ignored.
"""

from __future__ import annotations

import configparser
import math
import warnings
from pathlib import Path
from typing import Any

from accelsim.config import DEFAULT_CONFIG, HardwareConfig, read_config_text
from accelsim.errors import ConfigError

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

    Read from ``[architecture_presets]``: ArrayHeight, ArrayWidth, the three SRAM sizes
    (SCALE-Sim's kB are KiB), Dataflow and Bandwidth (words/cycle, times ``word_bytes``); from
    ``[run_presets]``: InterfaceBandwidth (``CALC`` asks for the bandwidth that never stalls,
    an unbounded DRAM; ``USER`` uses Bandwidth, which is checked in either mode). SCALE-Sim's
    DRAM answers in one cycle, so the latency is set to 1, with a warning that says so. As in SCALE-Sim, option names are read without regard to case and
    values with it; unlike SCALE-Sim, a Dataflow other than ``os``, ``ws`` or ``is`` is an error
    (SCALE-Sim silently runs OS). ``SparsitySupport = true`` raises a warning: layers run dense
    here, so SCALE-Sim's sparse cycle counts will differ.
    """
    path = Path(path)
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keep names as written, for errors and the note on ignored keys
    text = read_config_text(path)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        raise ConfigError(f"{path}: not a valid SCALE-Sim config ({error.message.splitlines()[0]})") from None

    def section(name: str) -> dict[str, tuple[str, str]]:
        """lower-case key → (key as written, value) of one section, if present."""
        if not parser.has_section(name):
            return {}
        return {key.lower(): (key, value.strip()) for key, value in parser.items(name, raw=True)}

    if not parser.has_section("architecture_presets"):
        raise ConfigError(f"{path}: no [architecture_presets] section; expected a SCALE-Sim config")
    architecture, run_presets = section("architecture_presets"), section("run_presets")
    values: dict[str, Any] = {"dram_latency_cycles": 1}
    for key, name in SCALESIM_KEYS.items():
        if key in architecture:
            written, text = architecture[key]
            value = text if name == "dataflow" else _number(path, written, text, name.startswith("array"))
            try:  # on one array: how the base's slices fit the new sides is checked with the whole config
                base.replace(**{name: value}, array_slices=1, slice_rows=0)
            except ConfigError as error:
                raise ConfigError(f"{path}: {written}: {str(error).split(': ', 1)[1]}") from None
            values[name] = value
    mode = run_presets.get("interfacebandwidth", ("InterfaceBandwidth", "CALC"))[1]
    if mode not in ("CALC", "USER"):
        raise ConfigError(f"{path}: InterfaceBandwidth: expected CALC or USER, got {mode!r}")
    if "bandwidth" in architecture:  # checked in either mode: CALC ignores it, but never a value that is wrong
        bandwidth = _number(path, "Bandwidth", architecture["bandwidth"][1], integer=False)
        if not bandwidth > 0:
            raise ConfigError(f"{path}: Bandwidth: expected a positive number, got {bandwidth!r}")
        try:
            base.replace(dram_bandwidth_bytes_per_cycle=bandwidth * base.word_bytes)
        except ConfigError as error:
            raise ConfigError(f"{path}: Bandwidth (times word_bytes = {base.word_bytes}): "
                              f"{str(error).split(': ', 1)[1]}") from None
        if mode == "USER":
            values["dram_bandwidth_bytes_per_cycle"] = bandwidth * base.word_bytes
    elif mode == "USER":
        raise ConfigError(f"{path}: Bandwidth: expected a number when InterfaceBandwidth = USER")
    if mode == "CALC":
        values["dram_bandwidth_bytes_per_cycle"] = math.inf
    warnings.warn(f"{path}: SCALE-Sim's DRAM answers in one cycle, so dram_latency_cycles = 1 "
                  f"(accelsim's default is {DEFAULT_CONFIG.dram_latency_cycles})", stacklevel=2)
    sparsity = section("sparsity").get("sparsitysupport", ("", "false"))[1]
    if sparsity.lower() == "true":
        warnings.warn(f"{path}: SparsitySupport = true is not modelled: layers run dense, so "
                      "cycle counts differ from SCALE-Sim's sparse ones", stacklevel=2)
    used = set(SCALESIM_KEYS) | set(SCALESIM_BANDWIDTH_KEYS)
    ignored = sorted(written for name in parser.sections() for key, (written, _) in section(name).items()
                     if not (name in ("architecture_presets", "run_presets") and key in used))
    try:
        return base.replace(**values), ignored
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _number(path: Path, key: str, text: str, integer: bool) -> float | int:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{path}: {key}: expected {kind}, got {text!r}") from None
