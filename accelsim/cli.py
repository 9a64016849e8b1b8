"""The ``accelsim`` command: a thin layer over the library.

Bad input exits with status 2 and one line on stderr that names what was wrong and what was
expected; nothing is written unless the run succeeded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import pandas as pd

from accelsim import __version__
from accelsim.arch.dataflow import DATAFLOWS
from accelsim.arch.timing import TIMINGS
from accelsim.config import (DEFAULT_CONFIG, FALLBACKS, FIELD_NAMES, HardwareConfig, dumps_config, load_config,
                             load_scalesim_config, parse_array)
from accelsim.energy.account import sanity_ratios
from accelsim.energy.table import PROFILES, energy_table, profile_sources
from accelsim.errors import AccelsimError, ConfigError, TraceError
from accelsim.limits import MAX_EXAMPLE_ELEMENTS
from accelsim.report import format_energy, format_layers, format_summary
from accelsim.schedule import SCHEDULERS
from accelsim.simulate import run
from accelsim.trace import (FORMAT_NAME, FORMAT_VERSION, STATISTICS, SynthKnobs, compare_statistics,
                            fit_knobs, gated_trace_layers, layer_statistics, match_trace,
                            network_flop_reduction, open_trace, synthesize, uniform_rate_for_reduction)
from accelsim.trace.stats import trace_summary
from accelsim.trace.synth import FITTED_KNOBS
from accelsim.workload import NETWORKS, get_network, load_topology
from accelsim.workload.layer import Network

DEFAULT_NETWORK = "resnet20-fmnist"
_TRACE_NAME = "resnet20-fmnist.npz"
# the source tree's traces/ (a checkout, an editable install), else the copy an install ships
# inside the package (pyproject.toml maps traces/ to accelsim._traces)
_TRACE_PLACES = (Path(__file__).resolve().parent.parent / "traces" / _TRACE_NAME,
                 Path(__file__).resolve().parent / "_traces" / _TRACE_NAME)
#: The trace ``accelsim run`` uses when given nothing: exported from our trained model.
DEFAULT_TRACE = next((place for place in _TRACE_PLACES if place.is_file()), _TRACE_PLACES[-1])


class UsageError(AccelsimError):
    """A command-line argument is malformed."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage text and a message."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return text


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _network_options(parser: argparse.ArgumentParser, text: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--network", metavar="NAME", type=_nonempty, help=f"{text}; one of {', '.join(NETWORKS)}")
    group.add_argument("--topology", metavar="FILE.csv", type=_nonempty, help="a SCALE-Sim topology CSV")


# -- hardware options, generated from HardwareConfig's fields ---------------------------------
_FIELDS = {spec.name: spec for spec in fields(HardwareConfig)}
#: Options older than the generated ones keep their names; every other field is --field-name.
#: The array's two fields are one option, --array RxC.
OPTION_NAMES = {"array_rows": "array", "array_cols": "array", "ifmap_sram_kib": "ifmap-kb",
                "filter_sram_kib": "filter-kb", "ofmap_sram_kib": "ofmap-kb",
                "dram_bandwidth_bytes_per_cycle": "bandwidth", "gate_latency_cycles": "gate-latency",
                "dram_latency_cycles": "dram-latency"}
#: The fields accelsim/energy/table.py reads: the only hardware options energy-table takes.
ENERGY_FIELDS = ("array_rows", "array_cols", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "clock_mhz",
                 "operand_bits", "accumulator_bits", "energy_profile", "technology_nm", "dram_type",
                 "sram_port_bits")
_CHOICES = {"dataflow": DATAFLOWS.names(), "timing": TIMINGS.names(), "profile": list(PROFILES),
            "fallback": list(FALLBACKS)}
_INTEGER_KINDS = ("count", "bits", "latency")


def field_options(names: Sequence[str] = FIELD_NAMES) -> dict[str, list[str]]:
    """Option name (without ``--``) → the config fields it sets, in field order. The
    ``[energy]`` overrides are a table, given in ``--config`` only."""
    options: dict[str, list[str]] = {}
    for name in FIELD_NAMES:
        if name in names and _FIELDS[name].metadata["kind"] != "overrides":
            options.setdefault(OPTION_NAMES.get(name, name.replace("_", "-")), []).append(name)
    return options


_OPTION_OF = {name: option for option, names in field_options().items() for name in names}


def _field_value(name: str, text: str) -> int | float | str:
    """One value of a config field from its command-line text (the config checks the range)."""
    kind = _FIELDS[name].metadata["kind"]
    number = int if kind in _INTEGER_KINDS else float if kind == "positive" else None
    if number is None:
        return _nonempty(text)
    try:
        return number(text)
    except ValueError:
        what = "an integer" if number is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _unit(name: str) -> str:
    """A metavar from the unit that ends every numeric field's name, e.g. KIB, MHZ, CYCLES."""
    if _FIELDS[name].metadata["kind"] not in (*_INTEGER_KINDS, "positive"):
        return "NAME"
    return "BYTES/CYCLE" if name.endswith("_bytes_per_cycle") else name.rsplit("_", 1)[-1].upper()


def _option_error(error: ConfigError) -> ConfigError:
    """A config field's error, renamed after the option that set it."""
    name, _, rest = str(error).partition(": ")
    return ConfigError(f"--{_OPTION_OF[name]}: {rest}" if name in _OPTION_OF else str(error))


def _hardware_options(parser: argparse.ArgumentParser, names: Sequence[str] = FIELD_NAMES,
                      lists: bool = False) -> None:
    group = parser.add_argument_group("hardware (these options override --config and --scalesim-config)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE.toml", type=_nonempty,
                        help="hardware config in TOML (accelsim config prints one)")
    source.add_argument("--scalesim-config", metavar="FILE.cfg", type=_nonempty, help="a SCALE-Sim .cfg file")
    for option, members in field_options(names).items():
        meta = _FIELDS[members[0]].metadata
        if option == "array":
            metavar, text = "RxC", f"{' x '.join(_FIELDS[n].metadata['doc'] for n in members)}, e.g. 32x32"
            default = DEFAULT_CONFIG.array
        else:
            choices = _CHOICES.get(meta["kind"])
            metavar = "|".join(choices) if choices else _unit(members[0])
            text, default = meta["doc"], getattr(DEFAULT_CONFIG, members[0])
        if lists:
            metavar, text = "LIST", f"comma-separated {metavar} values: {text}"
        default = f"{default:g}" if isinstance(default, float) else default
        text = f"{text} (default {default}; config: {', '.join(members)})".replace("%", "%%")
        kind = _nonempty if lists or option == "array" else (lambda value, name=members[0]: _field_value(name, value))
        group.add_argument(f"--{option}", metavar=metavar, type=kind, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelsim", description="Cycle-level simulator of systolic-array "
                     "accelerators running channel-gated CNNs.")
    parser.add_argument("--version", "-V", action="version", version=f"accelsim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run_parser = commands.add_parser("run", help="simulate a network and print its report")
    run_parser.add_argument("trace", metavar="TRACE", nargs="?", type=_nonempty,
                            help="a gate trace (.npz); its layers gate the network's by name")
    run_parser.add_argument("--scheduler", metavar="LIST", type=_nonempty,
                            help=f"comma-separated schedulers ({', '.join(SCHEDULERS.names())}), or 'all' "
                                 "(default: all with a trace, dense without); dense always runs as the baseline")
    run_parser.add_argument("--images", metavar="A:B", type=_nonempty, help="images of the trace to run (default all)")
    run_parser.add_argument("--calibration", metavar="A:B", type=_nonempty,
                            help="images from which static schedulers fix their channel order (default 0:16)")
    workload = run_parser.add_mutually_exclusive_group()
    workload.add_argument("--network", metavar="NAME", type=_nonempty,
                          help=f"built-in network ({', '.join(NETWORKS)}); default: the trace's, "
                               f"else {DEFAULT_NETWORK}")
    workload.add_argument("--topology", metavar="FILE.csv", type=_nonempty, help="a SCALE-Sim topology CSV")
    _hardware_options(run_parser)
    run_parser.add_argument("--out", metavar="DIR", type=_nonempty,
                            help="write layers.csv, summary.csv, config.toml and run.json here")
    run_parser.add_argument("--parquet", action="store_true",
                            help="also write layers.parquet and summary.parquet into --out (extra: parquet)")
    run_parser.add_argument("--timeline", metavar="FILE.json", type=_nonempty,
                            help="write a Chrome trace-event timeline of the run (open it in Perfetto)")
    run_parser.add_argument("--quiet", action="store_true", help="print nothing but errors (no progress bar)")

    config_parser = commands.add_parser("config", help="print the hardware config in force as TOML")
    _hardware_options(config_parser)

    commands.add_parser("networks", help="list the built-in networks")

    sweep_parser = commands.add_parser("sweep", help="a grid of hardware configs over one trace, resumable")
    sweep_parser.add_argument("trace", metavar="TRACE", type=_nonempty, help="a gate trace (.npz), as for run")
    workload = sweep_parser.add_mutually_exclusive_group()
    workload.add_argument("--network", metavar="NAME", type=_nonempty,
                          help=f"built-in network ({', '.join(NETWORKS)}); default: the trace's")
    workload.add_argument("--topology", metavar="FILE.csv", type=_nonempty, help="a SCALE-Sim topology CSV")
    _hardware_options(sweep_parser, lists=True)
    sweep_parser.add_argument("--grid", metavar="FILE.toml", type=_nonempty,
                              help="points from a grid file ([base], [axes], [[points]]) instead of the lists")
    sweep_parser.add_argument("--scheduler", metavar="LIST", type=_nonempty,
                              help=f"as for run ({', '.join(SCHEDULERS.names())}; default all)")
    sweep_parser.add_argument("--images", metavar="A:B", type=_nonempty, help="images of the trace to run (default all)")
    sweep_parser.add_argument("--calibration", metavar="A:B", type=_nonempty, help="as for run (default 0:16)")
    sweep_parser.add_argument("--max-points", metavar="N", type=_positive_int, default=None,
                              help="refuse a grid of more points (default 100,000)")
    sweep_parser.add_argument("--out", metavar="DIR", type=_nonempty, required=True,
                              help="folder for results.csv, summary.csv and the per-point files")
    pool = sweep_parser.add_mutually_exclusive_group()
    pool.add_argument("--workers", type=_positive_int, default=2, help="local worker processes (default 2)")
    pool.add_argument("--dask", metavar="ADDRESS", type=_nonempty,
                      help="run on a Dask distributed scheduler, e.g. tcp://host:8786 (extra: dask)")
    sweep_parser.add_argument("--parquet", action="store_true",
                              help="also write results.parquet and summary.parquet (extra: parquet)")
    sweep_parser.add_argument("--resume", action="store_true", help="skip points already in DIR")
    sweep_parser.add_argument("--quiet", action="store_true", help="no progress bar or notes")

    plot_parser = commands.add_parser("plot", help="figures from the tables of accelsim run or sweep --out")
    plot_parser.add_argument("results", metavar="RESULTS", type=_nonempty,
                             help="the --out folder of accelsim run (layers.csv, summary.csv) "
                                  "or of accelsim sweep (results.csv, summary.csv)")
    plot_parser.add_argument("--out", metavar="DIR", type=_nonempty, required=True, help="folder for the figures")
    plot_parser.add_argument("--format", default="png,svg", type=_nonempty, help="png, svg or both (default)")
    plot_parser.add_argument("--clock-mhz", type=_positive_float, default=None,
                             help="clock of the latency axis (default: the clock the results were run at)")

    topology_parser = commands.add_parser(
        "topology", help="write the topology CSV of a PyTorch or ONNX model (the file --topology reads)")
    model = topology_parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--from-torch", metavar="MODULE:CALLABLE", type=_nonempty,
                       help="MODULE (dotted, or a .py file) and a callable in it that returns the model")
    model.add_argument("--from-onnx", metavar="FILE.onnx", type=_nonempty, help="an ONNX model (extra: onnx)")
    topology_parser.add_argument("--input", metavar="CxHxW", type=_nonempty,
                                 help="shape of one input image, without the batch (required with "
                                      "--from-torch; with --from-onnx it replaces the file's input shape)")
    topology_parser.add_argument("--name", type=_nonempty,
                                 help="network name (default: the callable's name, or the ONNX file's stem)")
    topology_parser.add_argument("--out", metavar="FILE.csv", type=_nonempty, required=True,
                                 help="the topology CSV to write")
    topology_parser.add_argument("--quiet", action="store_true", help="print nothing but errors")

    table_parser = commands.add_parser("energy-table", help="print the energy table in force, with units and sources")
    _hardware_options(table_parser, ENERGY_FIELDS)

    trace_parser = commands.add_parser("trace", help="inspect, validate and synthesise gate traces")
    trace_commands = trace_parser.add_subparsers(dest="trace_command", required=True, parser_class=_Parser)
    info = trace_commands.add_parser("info", help="statistics of a gate trace")
    info.add_argument("file", metavar="FILE", type=_nonempty, help="a gate trace (.npz)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _network_options(info, "network the trace belongs to (default: the manifest's)")
    validate = trace_commands.add_parser("validate", help="check a gate trace, byte by byte")
    validate.add_argument("file", metavar="FILE", type=_nonempty, help="a gate trace (.npz)")
    _network_options(validate, "also check the trace's shapes against this network")
    synth = trace_commands.add_parser("synth", help="write a synthetic gate trace")
    _network_options(synth, "network to gate (default with --fit: the real trace's)")
    synth.add_argument("--out", metavar="FILE.npz", type=_nonempty, required=True, help="the trace to write")
    synth.add_argument("--images", type=_positive_int, help="images (default 8; with --fit, the real trace's)")
    synth.add_argument("--seed", type=_count, default=0, help="random seed, a non-negative integer (default 0)")
    target = synth.add_mutually_exclusive_group()
    target.add_argument("--rate", type=float, help="on-rate of every gated layer (default 0.3)")
    target.add_argument("--target-reduction", type=float, metavar="X",
                        help="one on-rate for all gated layers that gives this network MAC reduction")
    target.add_argument("--fit", metavar="REAL.npz", type=_nonempty,
                        help="fit the knobs and per-layer rates to a real trace")
    synth.add_argument("--gated", help="which layers are gated: blocks (default) or first")
    synth.add_argument("--gate-groups", type=_positive_int, help="gate groups G (η = 1/G); default 4")
    synth.add_argument("--shared-base", type=_positive_int, metavar="P",
                       help="every output's base path is the first Cin/P input channels (G = 1, η = 1/P)")
    synth.add_argument("--independent", action="store_true",
                       help="baseline: independent coin flips instead of structured maps")
    defaults = SynthKnobs()
    for knob in FITTED_KNOBS:
        synth.add_argument(f"--{knob.replace('_', '-')}", type=float, default=getattr(defaults, knob),
                           help=f"generator knob (default {getattr(defaults, knob)}); see docs/trace-format.md")
    synth.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def resolve_config(args: argparse.Namespace, notes: list[str]) -> HardwareConfig:
    """Config file (TOML or SCALE-Sim), then command-line overrides."""
    config = DEFAULT_CONFIG
    if args.config is not None:
        config = load_config(args.config)
    elif args.scalesim_config is not None:
        config, ignored = _noting_warnings(notes, load_scalesim_config, args.scalesim_config)
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
        raise _option_error(error) from None
    return config


def _noting_warnings(notes: list[str], function, *args):
    """Call ``function``; its warnings become notes printed with the report."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args)
    notes.extend(str(warning.message) for warning in caught)
    return result


def resolve_network(args: argparse.Namespace, notes: list[str]) -> Network:
    if args.topology is not None:
        return _noting_warnings(notes, load_topology, args.topology)
    return get_network(args.network if args.network is not None else DEFAULT_NETWORK)


def _image_slice(option: str, text: str | None) -> slice | None:
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


def _scheduler_names(text: str | None, traced: bool) -> list[str]:
    if text is None:
        return SCHEDULERS.names() if traced else ["dense"]
    names = SCHEDULERS.names() if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--scheduler: expected scheduler names or 'all', got {text!r}")
    for name in names:
        SCHEDULERS.get(name)  # raises, listing the valid names
    return names


def _check_parquet(args: argparse.Namespace) -> None:
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("--parquet: needs pyarrow (pip install 'accelsim[parquet]')") from None


def _command_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    notes: list[str] = []
    if args.parquet and args.out is None:
        raise UsageError("--parquet: give --out DIR for the tables")
    _check_parquet(args)
    config = resolve_config(args, notes)
    images = _image_slice("--images", args.images)
    calibration = _image_slice("--calibration", args.calibration)
    nothing_given = args.trace is None and args.network is None and args.topology is None
    if nothing_given:
        if not DEFAULT_TRACE.is_file():  # never fall back to a dense run unasked
            raise UsageError(f"the shipped trace {DEFAULT_TRACE} is not installed; give a TRACE, "
                             "or --network NAME for a dense run")
        args.trace = str(DEFAULT_TRACE)
    schedulers = _scheduler_names(args.scheduler, args.trace is not None)
    simulated = window = None
    if args.trace is None:
        if images is not None or calibration is not None:
            raise UsageError("--images and --calibration need a TRACE")
        network = resolve_network(args, notes)
        if any(name != "dense" for name in schedulers):
            notes.append("no gate trace: every layer runs ungated, so each scheduler equals dense")
        result = run(network, config, schedulers)
    else:
        with open_trace(args.trace) as trace:
            network = _trace_network(args, notes, trace.info.network)
            if network is None:
                raise TraceError(f"{args.trace}: give --network or --topology for the trace's network")
            simulated = range(*(images or slice(None)).indices(trace.images))
            result = _run_with_progress(args, simulated, network, config, schedulers, trace,
                                        images or slice(None), calibration)
            window = range(*(calibration or slice(0, 16)).indices(trace.images))
            if {"balanced"} & set(schedulers) and set(window) & set(simulated):
                notes.append("the calibration images of 'balanced' overlap the simulated ones, which "
                             "flatters it; give disjoint --calibration and --images for a fair test")
    files: dict[Path, bytes] = {}
    if args.timeline is not None:
        from accelsim.timeline import timeline_json

        files[Path(args.timeline)] = timeline_json(result.layers, config).encode()
    if args.out is not None:
        from accelsim.outputs import run_files, run_record

        record = run_record(["accelsim", *args.argv], network, config, list(result.summary["scheduler"]),
                            args.out, time.perf_counter() - started, args.topology, args.trace,
                            simulated, window)
        files.update(run_files(args.out, result.layers, result.summary, config, record, args.parquet))
    if files:
        from accelsim.outputs import write_files

        try:
            write_files(files)
        except OSError as error:
            option = f"--out {args.out}" if args.out is not None else f"--timeline {args.timeline}"
            raise ConfigError(f"{option}: cannot write the results ({error.strerror or error})") from None
    if not args.quiet:
        for note in notes:
            print(f"accelsim: note: {note}", file=sys.stderr)
        _print_report(network, config, result, args)
    return 0


@contextmanager
def _progress_bar(unit: str, disable: bool = False):
    """A function ``progress(done, total)`` drawing a tqdm bar on stderr from its first call
    (once every argument has been checked); an error wipes the bar, so it stays one line."""
    from tqdm import tqdm

    bars = []

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


def _run_with_progress(args: argparse.Namespace, simulated: range, *run_args):
    """``run`` with a bar of images done on stderr, as sweep draws points; none with --quiet
    or when stderr is not a terminal (a log file would fill with redrawn bars)."""
    if args.quiet or not sys.stderr.isatty():
        return run(*run_args)
    with _progress_bar("image") as progress:
        return run(*run_args, progress=lambda done: progress(done, len(simulated)))


def _print_report(network: Network, config: HardwareConfig, result, args: argparse.Namespace) -> None:
    summary = result.summary
    images = int(summary["images"].iloc[0])
    source = f" with gates from {args.trace} ({images} images)" if args.trace is not None else ""
    print(f"{network.name} on a {config.array} {config.dataflow.upper()} array "
          f"({config.timing} timing), {len(network)} layers{source}")
    if args.trace is None and len(summary) == 1:
        print(format_layers(result.layers))
        total = summary.iloc[0]
        print(f"total: {total['cycles_total']:,} cycles ({total['latency_ms']:.4g} ms at "
              f"{config.clock_mhz:g} MHz), {total['macs_executed']:,} MACs, "
              f"PE utilization {total['pe_utilization']:.1%}, energy {total['energy_per_image_uj']:.4g} µJ")
    else:
        print(format_summary(summary))
        print("latency: per image over the network; speedup and flop_red against dense; bound: dense MACs / "
              "the MACs any schedule of pixels x channel sets must run at this array's width; ideal ... stall: "
              "shares of the cycles (docs/schedulers.md)")
        print(format_energy(summary))
    ratios = sanity_ratios(energy_table(config), config)
    print(f"energy ({config.energy_profile}, {config.technology_nm} nm) per operand word relative to a MAC: "
          f"DRAM {ratios['dram_per_mac']:.0f} : SRAM {ratios['sram_per_mac']:.1f} : 1 (Eyeriss 200 : 6 : 1)")
    if args.out is not None:
        print(f"wrote {Path(args.out) / 'layers.csv'}, summary.csv, config.toml and run.json"
              + (" (and .parquet)" if args.parquet else ""))
    if args.timeline is not None:
        print(f"wrote {args.timeline}: the timeline (open it in https://ui.perfetto.dev)")


def _command_config(args: argparse.Namespace) -> int:
    notes: list[str] = []
    config = resolve_config(args, notes)
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)
    print(dumps_config(config), end="")
    return 0


def _command_networks(args: argparse.Namespace) -> int:
    for name in NETWORKS:
        network = get_network(name)
        print(f"{name:18s} {len(network):3d} layers  {network.macs:>15,} MACs/image")
    return 0


def _trace_network(args: argparse.Namespace, notes: list[str], manifest_network: str | None) -> Network | None:
    """The network named on the command line, else the trace's own if it is built in."""
    if args.network is not None or args.topology is not None:
        return resolve_network(args, notes)
    if manifest_network is not None and manifest_network in NETWORKS:
        return get_network(manifest_network)
    if manifest_network is not None:
        notes.append(f"the trace's network {manifest_network!r} is not built in; give --network "
                     "or --topology to count its ungated layers")
    return None


SHORT_NAMES = {"on_rate": "rate", "on_rate_image_std": "rate_sd", "channel_rate_std": "chan_sd",
               "morans_i": "moran", "corr_within_groups": "corr_in", "corr_across_groups": "corr_out",
               "no_channel_pixel_fraction": "px_none", "channels_off_fraction": "ch_off",
               "flop_reduction": "reduction"}


def _command_trace_info(args: argparse.Namespace) -> int:
    notes: list[str] = []
    with open_trace(args.file) as trace:
        network = _trace_network(args, notes, trace.info.network)
        if network is not None:
            match_trace(network, trace.layers, trace.path)
        summary = trace_summary(trace, network)
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
        return 0
    scope = f"network {summary['network']}" if summary["network"] else "the gated layers only"
    print(f"{summary['file']}: {summary['model']} on {summary['dataset']}, {summary['images']} images, "
          f"{len(summary['layers'])} gated layers")
    table = pd.DataFrame(summary["layers"])[["name", "out_channels", "out_h", "out_w", "gate_groups",
                                               *STATISTICS, "flop_reduction"]]
    table = table.rename(columns=SHORT_NAMES).rename(columns={"out_channels": "C", "out_h": "H",
                                                              "out_w": "W", "gate_groups": "G"})
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("columns: " + ", ".join(f"{short} = {name}" for name, short in SHORT_NAMES.items()))
    print(f"MAC (FLOP) reduction over {scope}: {summary['network_flop_reduction']:.3f}x")
    bounds = summary["granularity_bound"]
    print("MAC bound of a schedule of pixels x channel sets (dense MACs / MACs it must run), "
          "channels in natural order:")
    print(pd.DataFrame({"channels per set": [int(width) for width in bounds],
                        "MAC bound": [f"{bound:.2f}x" for bound in bounds.values()]}).to_string(index=False))
    return 0


def _command_trace_validate(args: argparse.Namespace) -> int:
    notes: list[str] = []
    try:
        trace = open_trace(args.file)
    except TraceError as error:
        print(f"accelsim: error: {error}", file=sys.stderr)
        return 2
    with trace:
        problems = trace.validate()
        network = _trace_network(args, notes, trace.info.network)
        if network is not None:
            try:
                match_trace(network, trace.layers, trace.path)
            except TraceError as error:
                problems.append(str(error))
    for problem in problems:
        print(f"accelsim: error: {problem}", file=sys.stderr)
    if problems:
        return 2
    against = f", shapes match {network.name}" if network is not None else ""
    print(f"{trace.path}: valid {FORMAT_NAME} v{FORMAT_VERSION}: {len(trace.layers)} gated layers, "
          f"{trace.images} images{against}")
    return 0


def _command_trace_synth(args: argparse.Namespace) -> int:
    notes: list[str] = []
    knobs = SynthKnobs(**{knob: getattr(args, knob) for knob in FITTED_KNOBS}, independent=args.independent)
    if args.fit is not None:
        clashing = [option for option, value in (("--gated", args.gated), ("--gate-groups", args.gate_groups),
                                                 ("--shared-base", args.shared_base),
                                                 ("--independent", args.independent or None)) if value is not None]
        if clashing:
            raise UsageError(f"{clashing[0]}: not allowed with --fit (the real trace decides it)")
        with open_trace(args.fit) as real:
            network = _trace_network(args, notes, real.info.network)
            if network is None:
                raise TraceError(f"{args.fit}: give --network or --topology for the real trace's network")
            match_trace(network, real.layers, real.path)
            layers = list(real.layers)
            knobs, rates = fit_knobs(real, knobs)
            real_table = layer_statistics(real)
            images = args.images or real.images
    else:
        if args.network is None and args.topology is None:
            raise UsageError("trace synth: give --network NAME or --topology FILE.csv (or --fit REAL)")
        network = resolve_network(args, notes)
        if args.shared_base is not None and args.gate_groups is not None:
            raise UsageError("--shared-base: not allowed with --gate-groups (a shared base has one group)")
        layers = gated_trace_layers(network, args.gated or "blocks", args.shared_base or args.gate_groups or 4,
                                    "grouped" if args.shared_base is None else "shared")
        rate = (uniform_rate_for_reduction(network, layers, args.target_reduction)
                if args.target_reduction is not None else 0.3 if args.rate is None else args.rate)
        rates = {layer.name: rate for layer in layers}
        images = args.images or 8
    provenance = {"fitted_to": str(args.fit)} if args.fit is not None else {}
    synthesize(args.out, network, layers, images, rates, knobs, args.seed, provenance)
    if args.quiet:
        return 0
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)
    with open_trace(args.out) as trace:
        table = layer_statistics(trace)
    reduction = network_flop_reduction(network, dict(zip(table["layer"], table["on_rate"])),
                                       {layer.name: layer.base_fraction for layer in layers})
    print(f"wrote {args.out}: {len(layers)} gated layers of {network.name}, {images} images, "
          f"MAC reduction {reduction:.3f}x")
    if args.fit is not None:
        print("fitted knobs: " + ", ".join(f"{knob}={getattr(knobs, knob):.3g}" for knob in FITTED_KNOBS))
        print(compare_statistics(real_table, table).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _command_energy_table(args: argparse.Namespace) -> int:
    notes: list[str] = []
    config = resolve_config(args, notes)
    for note in notes:
        print(f"accelsim: note: {note}", file=sys.stderr)
    table = energy_table(config)
    print(f"energy table in force: profile {config.energy_profile}, {config.technology_nm} nm, "
          f"{config.operand_bits}-bit operands, {config.accumulator_bits}-bit accumulators, "
          f"{config.sram_port_bits}-bit SRAM ports")
    frame = table.to_frame()
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nraw entries of profile {config.energy_profile} (override any of these, or any action "
          "above, in the config's [energy] table):")
    print(profile_sources(config.energy_profile, dict(config.energy_overrides)).to_string(
        index=False, float_format=lambda v: f"{v:.4g}"))
    ratios = sanity_ratios(table, config)
    print(f"\nper operand word, relative to one MAC: DRAM {ratios['dram_per_mac']:.0f} : "
          f"SRAM {ratios['sram_per_mac']:.1f} : MAC 1 (Eyeriss: 200 : 6 : 1)")
    return 0


def _sweep_axes(args: argparse.Namespace) -> dict[str, list]:
    axes: dict[str, list] = {}
    for option, names in field_options().items():
        text = getattr(args, option.replace("-", "_"))
        if text is None:
            continue
        values = [value.strip() for value in text.split(",") if value.strip()]
        if not values:
            raise UsageError(f"--{option}: expected a comma-separated list, got {text!r}")
        if option == "array":
            pairs = [parse_array(value) for value in values]
            axes["array_rows"] = [rows for rows, _ in pairs]
            axes["array_cols"] = [cols for _, cols in pairs]
            continue
        try:
            axes[names[0]] = [_field_value(names[0], value) for value in values]
        except argparse.ArgumentTypeError:
            kind = "integers" if _FIELDS[names[0]].metadata["kind"] in _INTEGER_KINDS else "numbers"
            raise UsageError(f"--{option}: expected {kind}, got {text!r}") from None
    return axes


def _sweep_configs(args: argparse.Namespace, base: HardwareConfig, max_points: int) -> list[HardwareConfig]:
    from accelsim.sweep import check_points, grid, load_grid

    axes = _sweep_axes(args)
    if args.grid is not None:
        if axes:
            raise UsageError("--grid: give the points either in the grid file or as lists, not both")
        return load_grid(args.grid, base, max_points)
    energy_axes = bool(set(axes) & set(ENERGY_FIELDS))
    arrays = list(zip(axes.pop("array_rows", [base.array_rows]), axes.pop("array_cols", [base.array_cols])))
    # counted, not built: a grid of 10^12 points must be refused before it fills the memory
    check_points(len(arrays) * math.prod(len(values) for values in axes.values()), max_points, "sweep")
    configs = []
    for rows, cols in arrays:
        try:
            configs += grid(base.replace(array_rows=rows, array_cols=cols), axes, max_points)
        except ConfigError as error:
            raise _option_error(error) from None
    if energy_axes:
        for config in configs:  # here, not in a worker: dram_type and the entries' ranges
            try:
                energy_table(config)
            except ConfigError as error:
                raise _option_error(error) from None
    return configs


def _dask_executor(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask: needs Dask distributed (pip install 'accelsim[dask]')") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(f"--dask {address}: cannot reach the scheduler ({error})") from None
    return client, client.get_executor()


def _command_sweep(args: argparse.Namespace) -> int:
    from accelsim.sweep import MAX_POINTS, run_sweep

    notes: list[str] = []
    base = DEFAULT_CONFIG
    if args.config is not None:
        base = load_config(args.config)
    elif args.scalesim_config is not None:
        base, _ = _noting_warnings(notes, load_scalesim_config, args.scalesim_config)
    max_points = args.max_points or MAX_POINTS
    configs = _sweep_configs(args, base, max_points)
    images = _image_slice("--images", args.images) or slice(None)
    calibration = _image_slice("--calibration", args.calibration)
    schedulers = _scheduler_names(args.scheduler, True)
    with open_trace(args.trace) as trace:
        network = _trace_network(args, notes, trace.info.network)
        if network is None:
            raise TraceError(f"{args.trace}: give --network or --topology for the trace's network")
        match_trace(network, trace.layers, trace.path)
        from accelsim.simulate import _image_range, calibration_window

        _image_range(trace, images)
        _image_range(trace, calibration_window(trace, calibration), "calibration")

    _check_parquet(args)
    client, executor = _dask_executor(args.dask) if args.dask else (None, None)
    try:
        with _progress_bar("point", disable=args.quiet) as progress:
            result = run_sweep(network, args.trace, configs, args.out, schedulers, images, args.resume,
                               executor=executor, workers=args.workers, progress=progress,
                               parquet=args.parquet, calibration=calibration, max_points=max_points)
    finally:
        if client is not None:
            client.close()
    if not args.quiet:
        for note in notes:
            print(f"accelsim: note: {note}", file=sys.stderr)
        print(f"wrote {Path(args.out) / 'results.csv'} and summary.csv: "
              f"{result.summary['point'].nunique()} points, {len(result.layers)} layer rows")
    return 0


def _command_plot(args: argparse.Namespace) -> int:
    formats = [value.strip() for value in args.format.split(",") if value.strip()]
    if not formats or any(value not in ("png", "svg") for value in formats):
        raise UsageError(f"--format: expected png, svg or both, got {args.format!r}")
    from accelsim.plots import read_results

    layers, summary, sweep = read_results(args.results)
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from accelsim.plots import write_figures, write_sweep_figures

    writer = write_sweep_figures if sweep else write_figures
    try:
        written = writer(layers, summary, args.out, formats, args.clock_mhz)
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot write the figures ({error.strerror or error})") from None
    print(f"wrote {len(written)} figures to {args.out}")
    return 0


def _input_shape(text: str | None) -> tuple[int, ...] | None:
    """``"3x224x224"`` → ``(3, 224, 224)``: one input image, without the batch."""
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    sizes = [int(part) if part.strip().isdigit() else 0 for part in parts]
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--input: expected positive sizes such as 3x224x224, got {text!r}")
    if math.prod(sizes) > MAX_EXAMPLE_ELEMENTS:
        raise UsageError(f"--input {text}: {math.prod(sizes):,} elements, more than the "
                         f"{MAX_EXAMPLE_ELEMENTS:,} allowed (accelsim.limits.MAX_EXAMPLE_ELEMENTS)")
    return tuple(sizes)


def _load_model(spec: str):
    """Call ``CALLABLE`` of ``MODULE`` (dotted, or a path to a .py file) for the model; the
    module's own folder (or the working folder) is importable meanwhile, as under ``python``."""
    import importlib
    import importlib.util

    module_text, colon, attribute = spec.rpartition(":")
    if not colon or not module_text.strip() or not attribute.strip():
        raise UsageError(f"--from-torch: expected MODULE:CALLABLE, got {spec!r}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("--from-torch: needs PyTorch (pip install 'accelsim[torch]')") from None
    where = f"--from-torch {spec}"
    is_file = module_text.endswith(".py") or os.sep in module_text
    folder = str(Path(module_text).resolve().parent) if is_file else os.getcwd()
    saved_path = list(sys.path)
    sys.path.insert(0, folder)
    try:
        if is_file:
            if not Path(module_text).is_file():
                raise UsageError(f"{where}: {module_text}: no such file")
            unique = f"_accelsim_model_{abs(hash(str(Path(module_text).resolve())))}"
            module_spec = importlib.util.spec_from_file_location(unique, module_text)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[unique] = module  # dataclasses and pickling look their module up
            try:
                module_spec.loader.exec_module(module)
            except Exception as error:
                sys.modules.pop(unique, None)
                raise UsageError(f"{where}: importing {module_text} raised {type(error).__name__}: {error}") from None
        else:
            try:
                module = importlib.import_module(module_text)
            except ModuleNotFoundError as error:
                raise UsageError(f"{where}: cannot import {module_text} ({error})") from None
            except Exception as error:
                raise UsageError(f"{where}: importing {module_text} raised {type(error).__name__}: {error}") from None
        target = module
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise UsageError(f"{where}: {module_text} has no attribute {attribute!r}")
            target = getattr(target, part)
        if not callable(target):
            raise UsageError(f"{where}: {attribute} is not callable")
        try:
            model = target()
        except Exception as error:
            raise UsageError(f"{where}: {attribute}() raised {type(error).__name__}: {error}") from None
    finally:
        sys.path[:] = saved_path
    from torch import nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"{where}: {attribute}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _command_topology(args: argparse.Namespace) -> int:
    from accelsim.workload import network_from_onnx, network_from_torch, write_topology

    shape = _input_shape(args.input)
    notes: list[str] = []
    if args.from_torch is not None:
        if shape is None:
            raise UsageError("--from-torch: give --input, the shape of one image (e.g. 3x224x224)")
        model = _load_model(args.from_torch)
        import torch

        floating = next((p for p in model.parameters() if p.is_floating_point()), None)
        example = torch.zeros((1, *shape), dtype=floating.dtype if floating is not None else torch.float32,
                              device=floating.device if floating is not None else "cpu")
        try:
            network = network_from_torch(model, example, args.name or args.from_torch.rpartition(":")[2])
        except AccelsimError as error:
            raise UsageError(f"--from-torch {args.from_torch}: {error}") from None
    else:
        try:
            network = _noting_warnings(notes, network_from_onnx, args.from_onnx, args.name,
                                       None if shape is None else (1, *shape))
        except AccelsimError as error:
            message = str(error)
            raise UsageError(message if message.startswith(args.from_onnx) else f"{args.from_onnx}: {message}") from None
    write_topology(network, args.out)
    if not args.quiet:
        for note in notes:
            print(f"accelsim: note: {note}", file=sys.stderr)
        print(f"wrote {args.out}: {network.name}, {len(network)} layers, {network.macs:,} MACs/image")
    return 0


TRACE_COMMANDS = {"info": _command_trace_info, "validate": _command_trace_validate,
                  "synth": _command_trace_synth}


def _command_trace(args: argparse.Namespace) -> int:
    return TRACE_COMMANDS[args.trace_command](args)


COMMANDS = {"run": _command_run, "config": _command_config, "networks": _command_networks,
            "trace": _command_trace, "energy-table": _command_energy_table, "plot": _command_plot,
            "sweep": _command_sweep, "topology": _command_topology}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accelsim`` command; returns the exit status."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv  # recorded in run.json
        return COMMANDS[args.command](args)
    except AccelsimError as error:
        print(f"accelsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (e.g. `accelsim run | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
