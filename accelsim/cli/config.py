"""``accelsim config``: the hardware config in force, as TOML."""

from __future__ import annotations

import argparse

from accelsim.cli.common import hardware_options, print_notes, resolve_config
from accelsim.config import dumps_config

HELP = "print the hardware config in force as TOML"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("config", help=HELP)
    hardware_options(parser)
    return parser


def command(args: argparse.Namespace) -> int:
    notes: list[str] = []
    config = resolve_config(args, notes)
    print_notes(notes)
    print(dumps_config(config), end="")
    return 0
