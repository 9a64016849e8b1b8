"""``accelsim plot``: figures from the tables of ``accelsim run`` or ``accelsim sweep``."""

from __future__ import annotations

import argparse

from accelsim.cli.common import UsageError, nonempty, positive_float

HELP = "figures from the tables of accelsim run or sweep --out"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("plot", help=HELP)
    parser.add_argument("results", metavar="RESULTS", type=nonempty,
                        help="the --out folder of accelsim run (layers.csv, summary.csv) "
                             "or of accelsim sweep (results.csv, summary.csv)")
    parser.add_argument("--out", metavar="DIR", type=nonempty, required=True, help="folder for the figures")
    parser.add_argument("--format", default="png,svg", type=nonempty, help="png, svg or both (default)")
    parser.add_argument("--clock-mhz", type=positive_float, default=None,
                        help="clock of the latency axis (default: the clock the results were run at)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def command(args: argparse.Namespace) -> int:
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
    if not args.quiet:
        print(f"wrote {len(written)} figures to {args.out}")
    return 0
