"""``accelsim energy-table``: the energy of every action and the area of every component in
force, with units and sources."""

from __future__ import annotations

import argparse

from accelsim.cli.common import ENERGY_FIELDS, hardware_options, print_notes, resolve_config

HELP = "print the energy and area tables in force, with units and sources"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("energy-table", help=HELP)
    hardware_options(parser, ENERGY_FIELDS)
    return parser


def command(args: argparse.Namespace) -> int:
    from accelsim.energy.account import sanity_ratios
    from accelsim.energy.area import area_table
    from accelsim.energy.table import energy_table, profile_sources

    notes: list[str] = []
    config = resolve_config(args, notes)
    print_notes(notes)
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
    areas = area_table(config)
    print(f"\narea in force: {areas.total_mm2:.4g} mm² (wires are routed over the cells: not charged area)")
    print(areas.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    ratios = sanity_ratios(table, config)
    print(f"\nper operand word, relative to one MAC: DRAM {ratios['dram_per_mac']:.0f} : "
          f"SRAM {ratios['sram_per_mac']:.1f} : MAC 1 (Eyeriss: 200 : 6 : 1)")
    return 0
