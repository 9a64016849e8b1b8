"""What the commands share: the parser, argument types, the hardware options generated from
:class:`~accelsim.config.HardwareConfig`'s fields, the config and network in force, image
ranges, scheduler lists and the progress bar.

Importing this module imports neither pandas nor matplotlib: the libraries that need them are
imported by the functions that use them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import fields
from typing import TYPE_CHECKING

from accelsim.arch.dataflow import DATAFLOWS
from accelsim.arch.timing import TIMINGS
from accelsim.config import (DEFAULT_CONFIG, DISPATCH_POLICIES, FALLBACKS, FIELD_NAMES, HardwareConfig, load_config,
                             parse_array)
from accelsim.energy.table import PROFILES, energy_table
from accelsim.errors import AccelsimError, ConfigError
from accelsim.scalesim_config import load_scalesim_config

if TYPE_CHECKING:
    from accelsim.workload.layer import Network

DEFAULT_NETWORK = "resnet20-fmnist"


class UsageError(AccelsimError):
    """A command-line argument is malformed."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage text and a message."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- argument types ------------------------------------------------------------------------------
def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return text


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def network_names() -> str:
    """The built-in networks, for help texts."""
    from accelsim.workload import NETWORKS

    return ", ".join(NETWORKS)


def scheduler_names() -> str:
    """The registered schedulers, for help texts."""
    from accelsim.schedule import SCHEDULERS

    return ", ".join(SCHEDULERS.names())


def network_options(parser: argparse.ArgumentParser, text: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--network", metavar="NAME", type=nonempty, help=f"{text}; one of {network_names()}")
    group.add_argument("--topology", metavar="FILE.csv", type=nonempty, help=TOPOLOGY_HELP)


# -- hardware options, generated from HardwareConfig's fields ---------------------------------
FIELDS = {spec.name: spec for spec in fields(HardwareConfig)}
#: Options older than the generated ones keep their names; every other field is --field-name.
#: The array's two fields are one option, --array RxC.
OPTION_NAMES = {"array_rows": "array", "array_cols": "array", "ifmap_sram_kib": "ifmap-kb",
                "filter_sram_kib": "filter-kb", "ofmap_sram_kib": "ofmap-kb",
                "dram_bandwidth_bytes_per_cycle": "bandwidth", "gate_latency_cycles": "gate-latency",
                "dram_latency_cycles": "dram-latency", "array_slices": "slices",
                "queue_depth_tasks": "queue-depth"}
#: The fields accelsim/energy/table.py reads: the only hardware options energy-table takes.
ENERGY_FIELDS = ("array_rows", "array_cols", "dataflow", "array_slices", "slice_rows", "queue_depth_tasks", "dispatch",
                 "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "ifmap_sram_banks", "filter_sram_banks",
                 "clock_mhz", "operand_bits", "accumulator_bits", "energy_profile", "technology_nm", "dram_type",
                 "sram_port_bits", "costs")
_CHOICES = {"dataflow": DATAFLOWS.names(), "timing": TIMINGS.names(), "profile": list(PROFILES),
            "fallback": list(FALLBACKS), "dispatch": list(DISPATCH_POLICIES)}
INTEGER_KINDS = ("count", "bits", "latency")


def field_options(names: Sequence[str] = FIELD_NAMES) -> dict[str, list[str]]:
    """Option name (without ``--``) → the config fields it sets, in field order. The
    ``[energy]`` overrides are a table, given in ``--config`` only."""
    options: dict[str, list[str]] = {}
    for name in FIELD_NAMES:
        if name in names and FIELDS[name].metadata["kind"] != "overrides":
            options.setdefault(OPTION_NAMES.get(name, name.replace("_", "-")), []).append(name)
    return options


_OPTION_OF = {name: option for option, names in field_options().items() for name in names}


def field_value(name: str, text: str) -> int | float | str:
    """One value of a config field from its command-line text (the config checks the range)."""
    kind = FIELDS[name].metadata["kind"]
    number = int if kind in INTEGER_KINDS else float if kind == "positive" else None
    if number is None:
        return nonempty(text)
    try:
        return number(text)
    except ValueError:
        what = "an integer" if number is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _unit(name: str) -> str:
    """A metavar from the unit that ends every numeric field's name, e.g. KIB, MHZ, CYCLES."""
    if FIELDS[name].metadata["kind"] not in (*INTEGER_KINDS, "positive"):
        return "NAME"
    return "BYTES/CYCLE" if name.endswith("_bytes_per_cycle") else name.rsplit("_", 1)[-1].upper()


def option_error(error: ConfigError) -> ConfigError:
    """A config field's error, renamed after the option that set it."""
    name, _, rest = str(error).partition(": ")
    return ConfigError(f"--{_OPTION_OF[name]}: {rest}" if name in _OPTION_OF else str(error))


def hardware_options(parser: argparse.ArgumentParser, names: Sequence[str] = FIELD_NAMES,
                     lists: bool = False) -> None:
    group = parser.add_argument_group("hardware (these options override --config and --scalesim-config)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE.toml", type=nonempty,
                        help="hardware config in TOML (accelsim config prints one)")
    source.add_argument("--scalesim-config", metavar="FILE.cfg", type=nonempty, help="a SCALE-Sim .cfg file")
    for option, members in field_options(names).items():
        meta = FIELDS[members[0]].metadata
        if option == "array":
            metavar, text = "RxC", f"{' x '.join(FIELDS[n].metadata['doc'] for n in members)}, e.g. 32x32"
            default = DEFAULT_CONFIG.array
        else:
            choices = _CHOICES.get(meta["kind"])
            metavar = "|".join(choices) if choices else _unit(members[0])
            text, default = meta["doc"], getattr(DEFAULT_CONFIG, members[0])
        if lists:
            metavar, text = "LIST", f"comma-separated {metavar} values: {text}"
        default = f"{default:g}" if isinstance(default, float) else default
        text = f"{text} (default {default}; config: {', '.join(members)})".replace("%", "%%")
        kind = nonempty if lists or option == "array" else (lambda value, name=members[0]: field_value(name, value))
        group.add_argument(f"--{option}", metavar=metavar, type=kind, help=text)


# -- what the arguments name ----------------------------------------------------------------------
def noting_warnings(notes: list[str], function, *args):
    """Call ``function``; its warnings become notes printed with the report."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args)
    notes.extend(str(warning.message) for warning in caught)
    return result


def print_notes(notes: Sequence[str]) -> None:
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)


def resolve_config(args: argparse.Namespace, notes: list[str]) -> HardwareConfig:
    """Config file (TOML or SCALE-Sim), then command-line overrides."""
    config = DEFAULT_CONFIG
    if args.config is not None:
        config = load_config(args.config)
    elif args.scalesim_config is not None:
        config, ignored = noting_warnings(notes, load_scalesim_config, args.scalesim_config)
        if ignored:
            notes.append(f"{args.scalesim_config}: ignored SCALE-Sim keys: {', '.join(ignored)}")
    changes: dict[str, object] = {}
    for option, names in field_options().items():
        value = getattr(args, option.replace("-", "_"), None)  # energy-table has only some
        if value is not None and option == "array":
            changes["array_rows"], changes["array_cols"] = parse_array(value)
        elif value is not None:
            changes[names[0]] = value
    try:
        config = config.replace(**changes)
        if set(changes) & set(ENERGY_FIELDS):
            energy_table(config)  # checks dram_type and that every entry comes out finite
    except ConfigError as error:
        raise option_error(error) from None
    return config


def resolve_network(args: argparse.Namespace, notes: list[str]) -> Network:
    from accelsim.workload import get_network, load_topology

    if args.topology is not None:
        return noting_warnings(notes, load_topology, args.topology)
    return get_network(args.network if args.network is not None else DEFAULT_NETWORK)


def trace_network(args: argparse.Namespace, notes: list[str], manifest_network: str | None) -> Network | None:
    """The network named on the command line, else the trace's own if it is built in."""
    from accelsim.workload import NETWORKS, get_network

    if args.network is not None or args.topology is not None:
        return resolve_network(args, notes)
    if manifest_network is not None and manifest_network in NETWORKS:
        return get_network(manifest_network)
    if manifest_network is not None:
        notes.append(f"the trace's network {manifest_network!r} is not built in; give --network "
                     "or --topology to count its ungated layers")
    return None


def image_slice(option: str, text: str | None) -> slice | None:
    """``"A:B"``, ``"A:"``, ``":B"`` or ``"A"`` → a slice of images."""
    if text is None:
        return None
    start, colon, stop = text.partition(":")
    try:
        first = int(start) if start.strip() else None
        last = (int(stop) if stop.strip() else None) if colon else (first + 1 if first is not None else None)
    except ValueError:
        first = last = -1
    if (first is not None and first < 0) or (last is not None and last < 0):
        raise UsageError(f"{option}: expected A:B with non-negative image indices, got {text!r}")
    return slice(first, last)


TOPOLOGY_HELP = ("a topology CSV: SCALE-Sim's form, or accelsim's own (real padding, kinds, groups) "
                 "as accelsim topology writes it")
IMAGES_HELP = ("images of the trace to run, A:B (default: those after the calibration images, so that no "
               "scheduler is tested on the images it calibrated on; all when the trace has no others)")


def fair_images(trace, images: slice | None, calibration: slice | None, batch: int = 1) -> slice:
    """``images``, or by default the trace's images after the calibration window (a static
    schedule is not tested on the images it was fitted to), or all of them where none are left."""
    from accelsim.simulate import calibration_window

    if images is not None:
        return images
    if calibration is not None:
        return slice(None)
    window = calibration_window(trace, None, batch)
    return slice(window.stop, None) if window.stop < trace.images else slice(None)


def schedulers_given(text: str | None, traced: bool) -> list[str]:
    """The schedulers of ``--scheduler`` (a list, or 'all'); by default all with a trace."""
    from accelsim.schedule import SCHEDULERS

    if text is None:
        return SCHEDULERS.names() if traced else ["dense"]
    names = SCHEDULERS.names() if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--scheduler: expected scheduler names or 'all', got {text!r}")
    for name in names:
        SCHEDULERS.get(name)  # raises, listing the valid names
    return names


def check_parquet(args: argparse.Namespace) -> None:
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--parquet: needs pyarrow (pip install 'accelsim[parquet]')") from None


@contextmanager
def progress_bar(unit: str, disable: bool = False):
    """A function ``progress(done, total)`` drawing a tqdm bar on stderr from its first call
    (once every argument has been checked); an error wipes the bar, so it stays one line.
    None when ``disable``d or when stderr is not a terminal (a log file would fill with
    redrawn bars)."""
    from tqdm import tqdm

    bars = []
    disable = disable or not sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=unit, disable=disable, file=sys.stderr))
        bars[0].update(done - bars[0].n)

    try:
        yield progress
    except BaseException:
        for bar in bars:
            bar.leave = False
        raise
    finally:
        for bar in bars:
            bar.close()

