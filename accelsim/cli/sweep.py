"""``accelsim sweep``: a grid of hardware configs over one trace (or a dense network), in
parallel and resumable."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from accelsim.cli.common import (ENERGY_FIELDS, FIELDS, IMAGES_HELP, INTEGER_KINDS, TOPOLOGY_HELP, UsageError,
                                 check_parquet, fair_images, field_options, field_value, hardware_options,
                                 image_slice, network_names, noting_warnings, nonempty, option_error,
                                 positive_int, print_notes, progress_bar, resolve_network, scheduler_names,
                                 schedulers_given, trace_network)
from accelsim.config import DEFAULT_CONFIG, HardwareConfig, load_config, parse_array
from accelsim.errors import ConfigError, TraceError
from accelsim.scalesim_config import load_scalesim_config

HELP = "a grid of hardware configs over one trace (or a network, dense), resumable"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("sweep", help=HELP)
    parser.add_argument("trace", metavar="TRACE", type=nonempty, nargs="?",
                        help="a gate trace (.npz), as for run; without one, --network or --topology runs dense")
    workload = parser.add_mutually_exclusive_group()
    workload.add_argument("--network", metavar="NAME", type=nonempty,
                          help=f"built-in network ({network_names()}); default: the trace's")
    workload.add_argument("--topology", metavar="FILE.csv", type=nonempty, help=TOPOLOGY_HELP)
    hardware_options(parser, lists=True)
    parser.add_argument("--grid", metavar="FILE.toml", type=nonempty,
                        help="points from a grid file ([base], [axes], [[points]]) instead of the lists")
    parser.add_argument("--scheduler", metavar="LIST", type=nonempty,
                        help=f"as for run ({scheduler_names()}; default all)")
    parser.add_argument("--images", metavar="A:B", type=nonempty, help=IMAGES_HELP)
    parser.add_argument("--calibration", metavar="A:B", type=nonempty, help="as for run (default 0:16)")
    parser.add_argument("--max-points", metavar="N", type=positive_int, default=None,
                        help="refuse a grid of more points (default 100,000)")
    parser.add_argument("--out", metavar="DIR", type=nonempty, required=True,
                        help="folder for results.csv, summary.csv and the per-point files")
    pool = parser.add_mutually_exclusive_group()
    pool.add_argument("--workers", type=positive_int, default=2, help="local worker processes (default 2)")
    pool.add_argument("--dask", metavar="ADDRESS", type=nonempty,
                      help="run on a Dask distributed scheduler, e.g. tcp://host:8786 (extra: dask)")
    parser.add_argument("--parquet", action="store_true",
                        help="also write results.parquet and summary.parquet (extra: parquet)")
    parser.add_argument("--resume", action="store_true", help="skip points already in DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    return parser


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
            axes[names[0]] = [field_value(names[0], value) for value in values]
        except argparse.ArgumentTypeError:
            kind = "integers" if FIELDS[names[0]].metadata["kind"] in INTEGER_KINDS else "numbers"
            raise UsageError(f"--{option}: expected {kind}, got {text!r}") from None
    return axes


def _sweep_configs(args: argparse.Namespace, base: HardwareConfig, max_points: int) -> list[HardwareConfig]:
    from accelsim.energy.table import energy_table
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
            raise option_error(error) from None
    if energy_axes:
        for config in configs:  # here, not in a worker: dram_type and the entries' ranges
            try:
                energy_table(config)
            except ConfigError as error:
                raise option_error(error) from None
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


def command(args: argparse.Namespace) -> int:
    from accelsim.simulate import _image_range, calibration_window
    from accelsim.sweep import MAX_POINTS, run_sweep
    from accelsim.trace import match_trace, open_trace

    notes: list[str] = []
    base = DEFAULT_CONFIG
    if args.config is not None:
        base = load_config(args.config)
    elif args.scalesim_config is not None:
        base, _ = noting_warnings(notes, load_scalesim_config, args.scalesim_config)
    max_points = args.max_points or MAX_POINTS
    configs = _sweep_configs(args, base, max_points)
    images = image_slice("--images", args.images)
    calibration = image_slice("--calibration", args.calibration)
    schedulers = schedulers_given(args.scheduler, args.trace is not None)
    if args.trace is None:  # a dense study of a network: no gates, no images
        if args.network is None and args.topology is None:
            raise UsageError("sweep: give a TRACE, or --network NAME or --topology FILE.csv for a dense sweep")
        if args.images is not None or args.calibration is not None:
            raise UsageError("--images and --calibration need a TRACE")
        network = resolve_network(args, notes)
        if any(name != "dense" for name in schedulers):
            notes.append("no gate trace: every layer runs ungated, so each scheduler equals dense")
    else:
        with open_trace(args.trace) as trace:
            network = trace_network(args, notes, trace.info.network)
            if network is None:
                raise TraceError(f"{args.trace}: give --network or --topology for the trace's network")
            match_trace(network, trace.layers, trace.path)
            images = fair_images(trace, images, calibration)
            _image_range(trace, images)
            _image_range(trace, calibration_window(trace, calibration), "calibration")

    check_parquet(args)
    client, executor = _dask_executor(args.dask) if args.dask else (None, None)
    try:
        with progress_bar("point", disable=args.quiet) as progress:
            result = run_sweep(network, args.trace, configs, args.out, schedulers, images, args.resume,
                               executor=executor, workers=args.workers, progress=progress,
                               parquet=args.parquet, calibration=calibration, max_points=max_points)
    finally:
        if client is not None:
            client.close()
    if not args.quiet:
        print_notes(notes)
        print(f"wrote {Path(args.out) / 'results.csv'} and summary.csv: "
              f"{result.summary['point'].nunique()} points, {len(result.layers)} layer rows")
    return 0
