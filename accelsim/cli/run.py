"""``accelsim run``: simulate a network, print its report, write its tables."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from accelsim.cli.common import (DEFAULT_NETWORK, IMAGES_HELP, TOPOLOGY_HELP, UsageError, check_parquet,
                                 fair_images, hardware_options, image_slice, network_names, nonempty,
                                 positive_int, print_notes, progress_bar, resolve_config, resolve_network,
                                 scheduler_names, schedulers_given, trace_network)
from accelsim.atomic import check_target, write_files_atomically
from accelsim.config import HardwareConfig
from accelsim.errors import ConfigError, TraceError

if TYPE_CHECKING:
    from accelsim.workload.layer import Network

HELP = "simulate a network and print its report"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("run", help=HELP)
    parser.add_argument("trace", metavar="TRACE", nargs="?", type=nonempty,
                        help="a gate trace (.npz); its layers gate the network's by name")
    parser.add_argument("--scheduler", metavar="LIST", type=nonempty,
                        help=f"comma-separated schedulers ({scheduler_names()}), or 'all' "
                             "(default: all with a trace, dense without); dense always runs as the baseline")
    parser.add_argument("--images", metavar="A:B", type=nonempty, help=IMAGES_HELP)
    parser.add_argument("--calibration", metavar="A:B", type=nonempty,
                        help="images from which static schedulers fix their channel order (default 0:16)")
    parser.add_argument("--workers", metavar="N", type=positive_int, default=1,
                        help="processes that share the trace's images, in consecutive parts (default 1); the "
                             "tables are those of one process")
    parser.add_argument("--batch", metavar="B", type=positive_int, default=1,
                        help="images run together through each layer, sharing its weights (default 1); with a "
                             "TRACE, consecutive images with their own decisions: --images and --calibration "
                             "(where read) must hold whole batches")
    workload = parser.add_mutually_exclusive_group()
    workload.add_argument("--network", metavar="NAME", type=nonempty,
                          help=f"built-in network ({network_names()}); default: the trace's, "
                               f"else {DEFAULT_NETWORK}")
    workload.add_argument("--topology", metavar="FILE.csv", type=nonempty, help=TOPOLOGY_HELP)
    hardware_options(parser)
    parser.add_argument("--out", metavar="DIR", type=nonempty,
                        help="write layers.csv, summary.csv, config.toml and run.json here")
    parser.add_argument("--parquet", action="store_true",
                        help="also write layers.parquet and summary.parquet into --out (extra: parquet)")
    parser.add_argument("--timeline", metavar="FILE.json", type=nonempty,
                        help="write a Chrome trace-event timeline of the run (open it in Perfetto)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors (no progress bar)")
    return parser


def command(args: argparse.Namespace) -> int:
    from accelsim import cli
    from accelsim.simulate import calibration_window, run
    from accelsim.trace import open_trace

    started = time.perf_counter()
    notes: list[str] = []
    if args.parquet and args.out is None:
        raise UsageError("--parquet: give --out DIR for the tables")
    check_parquet(args)
    config = resolve_config(args, notes)
    notes += free_costs(config)
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        # refused before the run, which could take minutes, rather than after it
        raise ConfigError(f"--out {args.out}: cannot write the results (not a folder)")
    if args.timeline is not None:  # one rule with every other file written: its folder must exist
        timeline = Path(args.timeline)
        if not timeline.parent.is_dir():
            raise ConfigError(f"--timeline {args.timeline}: folder {timeline.parent} does not exist")
        try:
            check_target(timeline)
        except OSError as error:
            raise ConfigError(f"--timeline {args.timeline}: cannot write the timeline ({error.strerror})") from None
    images = image_slice("--images", args.images)
    calibration = image_slice("--calibration", args.calibration)
    nothing_given = args.trace is None and args.network is None and args.topology is None
    if nothing_given:
        if not cli.DEFAULT_TRACE.is_file():  # never fall back to a dense run unasked
            raise UsageError(f"the shipped trace {cli.DEFAULT_TRACE} is not installed; give a TRACE, "
                             "or --network NAME for a dense run")
        args.trace = str(cli.DEFAULT_TRACE)
    schedulers = schedulers_given(args.scheduler, args.trace is not None)
    simulated = window = None
    if args.trace is None:
        if images is not None or calibration is not None:
            raise UsageError("--images and --calibration need a TRACE")
        network = resolve_network(args, notes)
        if any(name != "dense" for name in schedulers):
            notes.append("no gate trace: every layer runs ungated, so each scheduler equals dense")
        result = run(network, config, schedulers, batch=args.batch)
    else:
        with open_trace(args.trace) as trace:
            network = trace_network(args, notes, trace.info.network)
            if network is None:
                raise TraceError(f"{args.trace}: give --network or --topology for the trace's network")
            images = fair_images(trace, images, calibration, args.batch)
            simulated = range(*images.indices(trace.images))
            result = _run_with_progress(args, simulated, network, config, schedulers, trace, images, calibration)
            window = range(*calibration_window(trace, calibration, args.batch).indices(trace.images))
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
                            simulated, window, args.batch)
        files.update(run_files(args.out, result.layers, result.summary, config, record, args.parquet))
    if files:
        try:
            write_files_atomically(files)
        except OSError as error:
            option = f"--out {args.out}" if args.out is not None else f"--timeline {args.timeline}"
            raise ConfigError(f"{option}: cannot write the results ({error.strerror or error})") from None
    if not args.quiet:
        print_notes(notes)
        _print_report(network, config, result, args)
    return 0


def _run_with_progress(args: argparse.Namespace, simulated: range, *run_args):
    """``run`` with a bar of images done on stderr, as sweep draws points (:func:`progress_bar`)."""
    from accelsim.simulate import run

    with progress_bar("image", disable=args.quiet) as progress:
        return run(*run_args, progress=lambda done: progress(done, len(simulated)), batch=args.batch,
                   workers=args.workers)


def _print_report(network: Network, config: HardwareConfig, result, args: argparse.Namespace) -> None:
    from accelsim.energy.account import sanity_ratios
    from accelsim.energy.area import area_table, format_area
    from accelsim.energy.table import energy_table
    from accelsim.report import format_energy, format_held_back, format_layers, format_summary

    summary = result.summary
    images = int(summary["images"].iloc[0])
    source = f" with gates from {args.trace} ({images} images)" if args.trace is not None else ""
    print(f"{network.name} on a {config.array} {config.dataflow.upper()} array "
          f"({config.timing} timing), {len(network)} layers{source}")
    if args.trace is None and len(summary) == 1:
        print(format_layers(result.layers))
        total = summary.iloc[0]
        batch = f" per batch of {total['batch']} images" if total["batch"] > 1 else ""
        print(f"total{batch}: {total['cycles_total']:,} cycles ({total['latency_ms']:.4g} ms at "
              f"{config.clock_mhz:g} MHz), {total['macs_executed']:,} MACs, "
              f"PE utilization {total['pe_utilization']:.1%}, {total['images_per_second']:,.0f} images/s, "
              f"energy {total['energy_per_image_uj']:.4g} µJ per image")
    else:
        print(format_summary(summary))
        print("latency: per image (per batch with --batch) over the network; speedup and flop_red against dense; bound: dense MACs / "
              "the MACs any schedule of pixels x channel sets must run at this array's width; ideal ... stall: "
              "shares of the cycles (docs/schedulers.md)")
        print(format_energy(summary))
    held_back = format_held_back(result.layers)
    if held_back:
        print(held_back)
    ratios = sanity_ratios(energy_table(config), config)
    print(f"energy ({config.energy_profile}, {config.technology_nm} nm) per operand word relative to a MAC: "
          f"DRAM {ratios['dram_per_mac']:.0f} : SRAM {ratios['sram_per_mac']:.1f} : 1 (Eyeriss 200 : 6 : 1)")
    print(format_area(area_table(config), summary))
    if args.out is not None:
        print(f"wrote {Path(args.out) / 'layers.csv'}, summary.csv, config.toml and run.json"
              + (" (and .parquet)" if args.parquet else ""))
    if args.timeline is not None:
        print(f"wrote {args.timeline}: the timeline (open it in https://ui.perfetto.dev)")


def free_costs(config) -> list[str]:
    """What the config leaves free that a sliced array pays for, said beside the result."""
    if config.costs == "ideal":
        return ["costs = ideal: no SRAM port limits and free wires (the idealised model)"]
    if config.array_slices > 1 and not (config.ifmap_sram_banks and config.filter_sram_banks):
        from accelsim.arch.memory import sram_banks

        banks = sram_banks(config)
        return [f"the slices' SRAMs have the banks their streams need (ifmap {banks['ifmap']}, filter "
                f"{banks['filter']}; ifmap_sram_banks or filter_sram_banks = 0): charged in energy and area, "
                "never a wait; set fewer to see what the ports cost in cycles"]
    return []
