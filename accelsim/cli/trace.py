"""``accelsim trace info|validate|synth``: inspect, validate and synthesise gate traces."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.cli.common import (Parser, UsageError, count, network_options, nonempty, positive_int, print_notes,
                                 resolve_network, trace_network)
from accelsim.errors import TraceError

HELP = "inspect, validate and synthesise gate traces"

#: The columns of ``trace info``'s table, shortened; the table's last line spells them out.
SHORT_NAMES = {"on_rate": "rate", "on_rate_image_std": "rate_sd", "channel_rate_std": "chan_sd",
               "morans_i": "moran", "corr_within_groups": "corr_in", "corr_across_groups": "corr_out",
               "no_channel_pixel_fraction": "px_none", "channels_off_fraction": "ch_off",
               "flop_reduction": "reduction"}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from accelsim.trace import SynthKnobs
    from accelsim.trace.synth import FITTED_KNOBS

    parser = commands.add_parser("trace", help=HELP)
    trace_commands = parser.add_subparsers(dest="trace_command", required=True, parser_class=Parser)
    info = trace_commands.add_parser("info", help="statistics of a gate trace")
    info.add_argument("file", metavar="FILE", type=nonempty, help="a gate trace (.npz)")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    network_options(info, "network the trace belongs to (default: the manifest's)")
    validate = trace_commands.add_parser("validate", help="check a gate trace, byte by byte")
    validate.add_argument("file", metavar="FILE", type=nonempty, help="a gate trace (.npz)")
    network_options(validate, "also check the trace's shapes against this network")
    synth = trace_commands.add_parser("synth", help="write a synthetic gate trace")
    network_options(synth, "network to gate (default with --fit: the real trace's)")
    synth.add_argument("--out", metavar="FILE.npz", type=nonempty, required=True, help="the trace to write")
    synth.add_argument("--images", type=positive_int, help="images (default 8; with --fit, the real trace's)")
    synth.add_argument("--seed", type=count, default=0, help="random seed, a non-negative integer (default 0)")
    target = synth.add_mutually_exclusive_group()
    target.add_argument("--rate", type=float, help="on-rate of every gated layer (default 0.3)")
    target.add_argument("--target-reduction", type=float, metavar="X",
                        help="one on-rate for all gated layers that gives this network MAC reduction")
    target.add_argument("--fit", metavar="REAL.npz", type=nonempty,
                        help="fit the knobs and per-layer rates to a real trace")
    synth.add_argument("--gated", help="which layers are gated: blocks (default: every ungrouped conv larger "
                       "than 1x1 but the stem), first (the first conv of each block) or all (every ungrouped "
                       "conv, 1x1 and the stem included)")
    synth.add_argument("--gate-groups", type=positive_int, help="gate groups G (η = 1/G); default 4")
    synth.add_argument("--shared-base", type=positive_int, metavar="P",
                       help="every output's base path is the first Cin/P input channels (G = 1, η = 1/P)")
    synth.add_argument("--independent", action="store_true",
                       help="baseline: independent coin flips instead of structured maps")
    defaults = SynthKnobs()
    for knob in FITTED_KNOBS:
        synth.add_argument(f"--{knob.replace('_', '-')}", type=float, default=getattr(defaults, knob),
                           help=f"generator knob (default {getattr(defaults, knob)}); see docs/trace-format.md")
    synth.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def command(args: argparse.Namespace) -> int:
    return {"info": info, "validate": validate, "synth": synth}[args.trace_command](args)


def info(args: argparse.Namespace) -> int:
    import pandas as pd

    from accelsim.trace import STATISTICS, match_trace, open_trace
    from accelsim.trace.stats import trace_summary

    notes: list[str] = []
    with open_trace(args.file) as trace:
        network = trace_network(args, notes, trace.info.network)
        if network is not None:
            match_trace(network, trace.layers, trace.path)
        summary = trace_summary(trace, network)
    print_notes(notes)
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


def validate(args: argparse.Namespace) -> int:
    from accelsim.trace import FORMAT_NAME, FORMAT_VERSION, match_trace, open_trace

    notes: list[str] = []
    try:
        trace = open_trace(args.file)
    except TraceError as error:
        print(f"accelsim: error: {error}", file=sys.stderr)
        return 2
    with trace:
        problems = trace.validate()
        network = trace_network(args, notes, trace.info.network)
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


def synth(args: argparse.Namespace) -> int:
    from accelsim.trace import (SynthKnobs, compare_statistics, fit_knobs, gated_trace_layers, layer_statistics,
                                match_trace, network_flop_reduction, open_trace, synthesize,
                                uniform_rate_for_reduction)
    from accelsim.trace.synth import FITTED_KNOBS

    notes: list[str] = []
    knobs = SynthKnobs(**{knob: getattr(args, knob) for knob in FITTED_KNOBS}, independent=args.independent)
    if args.fit is not None:
        clashing = [option for option, value in (("--gated", args.gated), ("--gate-groups", args.gate_groups),
                                                 ("--shared-base", args.shared_base),
                                                 ("--independent", args.independent or None)) if value is not None]
        if clashing:
            raise UsageError(f"{clashing[0]}: not allowed with --fit (the real trace decides it)")
        with open_trace(args.fit) as real:
            network = trace_network(args, notes, real.info.network)
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
    print_notes(notes)
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
