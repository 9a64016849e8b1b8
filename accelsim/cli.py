"""The ``accelsim`` command: a thin layer over the library.

Bad input exits with status 2 and one line on stderr that names what was wrong and what was
expected; nothing is written unless the run succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from accelsim.config import (DEFAULT_CONFIG, HardwareConfig, dumps_config, load_config,
                             load_scalesim_config, parse_array)
from accelsim.errors import AccelsimError, ConfigError
from accelsim.report import format_layers, write_tables
from accelsim.simulate import run
from accelsim.workload import NETWORKS, get_network, load_topology
from accelsim.workload.layer import Network

DEFAULT_NETWORK = "resnet20-fmnist"


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


def _hardware_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hardware (later options override earlier sources)")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE.toml", type=_nonempty, help="hardware config in TOML")
    source.add_argument("--scalesim-config", metavar="FILE.cfg", type=_nonempty, help="a SCALE-Sim .cfg file")
    group.add_argument("--array", metavar="RxC", type=_nonempty, help="array rows x columns, e.g. 32x32")
    group.add_argument("--dataflow", metavar="NAME", type=_nonempty, help="os, ws or is")
    group.add_argument("--timing", metavar="NAME", type=_nonempty,
                       help="cycle convention: physical (default) or scalesim")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelsim", description="Cycle-level simulator of systolic-array "
                     "accelerators running channel-gated CNNs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run_parser = commands.add_parser("run", help="simulate a network and print its report")
    workload = run_parser.add_mutually_exclusive_group()
    workload.add_argument("--network", metavar="NAME", type=_nonempty,
                          help=f"built-in network ({', '.join(NETWORKS)}); default {DEFAULT_NETWORK}")
    workload.add_argument("--topology", metavar="FILE.csv", type=_nonempty, help="a SCALE-Sim topology CSV")
    _hardware_options(run_parser)
    run_parser.add_argument("--out", metavar="DIR", type=_nonempty, help="write layers.csv and summary.csv here")
    run_parser.add_argument("--quiet", action="store_true", help="print nothing but errors")

    config_parser = commands.add_parser("config", help="print the hardware config in force as TOML")
    _hardware_options(config_parser)

    commands.add_parser("networks", help="list the built-in networks")
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
    if args.array is not None:
        changes["array_rows"], changes["array_cols"] = parse_array(args.array)
    for option in ("dataflow", "timing"):
        value = getattr(args, option)
        if value is not None:
            changes[option] = value
    try:
        return config.replace(**changes)
    except ConfigError as error:
        raise ConfigError(f"--{error}") from None


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


def _command_run(args: argparse.Namespace) -> int:
    notes: list[str] = []
    config = resolve_config(args, notes)
    network = resolve_network(args, notes)
    result = run(network, config)
    if args.out is not None:
        try:
            write_tables(result.layers, result.summary, args.out)
        except OSError as error:
            raise ConfigError(f"--out {args.out}: cannot write the results ({error.strerror})") from None
    if not args.quiet:
        for note in notes:
            print(f"accelsim: note: {note}", file=sys.stderr)
        total = result.summary.iloc[0]
        print(f"{network.name} on a {config.array} {config.dataflow.upper()} array "
              f"({config.timing} timing), {len(network)} layers")
        print(format_layers(result.layers))
        print(f"total: {total['cycles_total']:,} cycles ({total['latency_ms']:.4g} ms at "
              f"{config.clock_mhz:g} MHz), {total['macs_executed']:,} MACs, "
              f"PE utilization {total['pe_utilization']:.1%}")
        if args.out is not None:
            print(f"wrote {Path(args.out) / 'layers.csv'} and {Path(args.out) / 'summary.csv'}")
    return 0


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


COMMANDS = {"run": _command_run, "config": _command_config, "networks": _command_networks}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accelsim`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
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
