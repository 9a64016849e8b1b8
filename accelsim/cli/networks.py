"""``accelsim networks``: the built-in networks."""

from __future__ import annotations

import argparse

HELP = "list the built-in networks"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return commands.add_parser("networks", help=HELP)


def command(args: argparse.Namespace) -> int:
    from accelsim.workload import NETWORKS, get_network

    for name in NETWORKS:
        network = get_network(name)
        print(f"{name:18s} {len(network):3d} layers  {network.macs:>15,} MACs/image")
    return 0
