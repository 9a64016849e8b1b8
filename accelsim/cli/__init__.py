"""The ``accelsim`` command: a thin layer over the library.

One module per command (:mod:`accelsim.cli.run`, ``config``, ``networks``, ``sweep``, ``plot``,
``topology``, ``energy_table``, ``trace``), each with ``HELP``, ``add_parser(commands)`` and
``command(args)``; what they share is in :mod:`accelsim.cli.common`. A command's module imports
pandas, matplotlib, PyTorch or Dask only when the command runs, and :func:`main` builds the
options of the command it was given alone, so that ``accelsim config`` or ``accelsim --help``
import nothing the command does not need.

Bad input exits with status 2 and one line on stderr that names what was wrong and what was
expected; nothing is written unless the run succeeded.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from accelsim._version import __version__
from accelsim.cli.common import (DEFAULT_NETWORK, ENERGY_FIELDS, OPTION_NAMES, Parser, UsageError, field_options,
                                 resolve_config, resolve_network)
from accelsim.errors import AccelsimError

__all__ = ["COMMANDS", "DEFAULT_NETWORK", "DEFAULT_TRACE", "ENERGY_FIELDS", "OPTION_NAMES", "UsageError",
           "build_parser", "field_options", "main", "resolve_config", "resolve_network"]

_TRACE_NAME = "resnet20-fmnist.npz"
# the source tree's traces/ (a checkout, an editable install), else the copy an install ships
# inside the package (pyproject.toml maps traces/ to accelsim._traces)
_PACKAGE = Path(__file__).resolve().parent.parent
_TRACE_PLACES = (_PACKAGE.parent / "traces" / _TRACE_NAME, _PACKAGE / "_traces" / _TRACE_NAME)
#: The trace ``accelsim run`` uses when given nothing: exported from our trained model.
DEFAULT_TRACE = next((place for place in _TRACE_PLACES if place.is_file()), _TRACE_PLACES[-1])

#: Command → the module of this package that implements it, in the order ``--help`` lists them.
COMMANDS = {"run": "run", "config": "config", "networks": "networks", "sweep": "sweep", "plot": "plot",
            "topology": "topology", "energy-table": "energy_table", "trace": "trace"}


def command_module(name: str):
    """The module of command ``name`` (a key of :data:`COMMANDS`)."""
    return importlib.import_module(f"{__name__}.{COMMANDS[name]}")


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the ``accelsim`` command. With ``commands``, only those commands get their
    options (the others are listed, with their help, but take none): what :func:`main` builds,
    so that one command's options never import another's libraries."""
    parser = Parser(prog="accelsim", description="Cycle-level simulator of systolic-array "
                    "accelerators running channel-gated CNNs.")
    parser.add_argument("--version", "-V", action="version", version=f"accelsim {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        module = command_module(name)
        if commands is None or name in commands:
            module.add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=module.HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accelsim`` command; returns the exit status."""
    # pandas keeps strings in Arrow arrays, whose default pool reserves a GiB of address space
    # on first use; the system allocator keeps every command within docs/limits.md (read when
    # pyarrow loads, so before any command imports pandas)
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        # the command is one of the words given; the rest are listed but not built
        args = build_parser({word for word in argv if word in COMMANDS}).parse_args(argv)
        args.argv = argv  # recorded in run.json
        return command_module(args.command).command(args)
    except AccelsimError as error:
        print(f"accelsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except MemoryError:  # a limit on address space (ulimit -v) or a machine too small for the run
        print("accelsim: error: out of memory (fewer images, a smaller network or a machine with more "
              "memory; docs/limits.md)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (e.g. `accelsim run | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
