"""``accelsim topology``: the topology CSV of a PyTorch or ONNX model."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from pathlib import Path

from accelsim.cli.common import UsageError, nonempty, noting_warnings, positive_int, print_notes
from accelsim.errors import AccelsimError
from accelsim.limits import MAX_EXAMPLE_ELEMENTS

HELP = "write the topology CSV of a PyTorch or ONNX model (the file --topology reads)"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("topology", help=HELP)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--from-torch", metavar="MODULE:CALLABLE", type=nonempty,
                       help="MODULE (dotted, or a .py file) and a callable in it that returns the model")
    model.add_argument("--from-onnx", metavar="FILE.onnx", type=nonempty, help="an ONNX model (extra: onnx)")
    parser.add_argument("--input", metavar="CxHxW", type=nonempty,
                        help="shape of one input image, without the batch (required with "
                             "--from-torch; with --from-onnx it replaces the file's input shape)")
    parser.add_argument("--name", type=nonempty,
                        help="network name (default: the callable's name, or the ONNX file's stem)")
    parser.add_argument("--out", metavar="FILE.csv", type=nonempty, required=True,
                        help="the topology CSV to write")
    parser.add_argument("--timeout", metavar="SECONDS", type=positive_int, default=600,
                        help="with --from-torch: give up when building the model and running it once takes "
                             "longer (default 600)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


class _TimedOut(BaseException):
    """Raised in the user's code when --timeout runs out (a BaseException, so that no
    ``except Exception`` of theirs swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: int, what: str):
    """Stop ``what`` with a :class:`UsageError` after ``seconds`` (where signals allow)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signal, _frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    except _TimedOut:
        raise UsageError(f"{what}: gave up after {seconds} s (--timeout)") from None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


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
            except (Exception, SystemExit) as error:  # user code ending the program is an error too
                sys.modules.pop(unique, None)
                raise UsageError(f"{where}: importing {module_text} raised {type(error).__name__}: {error}") from None
        else:
            try:
                module = importlib.import_module(module_text)
            except ModuleNotFoundError as error:
                raise UsageError(f"{where}: cannot import {module_text} ({error})") from None
            except (Exception, SystemExit) as error:
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
        except (Exception, SystemExit) as error:
            raise UsageError(f"{where}: {attribute}() raised {type(error).__name__}: {error}") from None
    finally:
        sys.path[:] = saved_path
    from torch import nn

    if not isinstance(model, nn.Module):
        raise UsageError(f"{where}: {attribute}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def command(args: argparse.Namespace) -> int:
    from accelsim.workload import network_from_onnx, write_topology

    shape = _input_shape(args.input)
    notes: list[str] = []
    if args.from_torch is not None:
        if shape is None:
            raise UsageError("--from-torch: give --input, the shape of one image (e.g. 3x224x224)")
        with _time_limit(args.timeout, f"--from-torch {args.from_torch}"):
            network = _network_from_torch(args, shape, notes)
    else:
        try:
            network = noting_warnings(notes, network_from_onnx, args.from_onnx, args.name,
                                      None if shape is None else (1, *shape))
        except AccelsimError as error:
            message = str(error)
            raise UsageError(message if message.startswith(args.from_onnx) else f"{args.from_onnx}: {message}") from None
    write_topology(network, args.out)
    if not args.quiet:
        print_notes(notes)
        print(f"wrote {args.out}: {network.name}, {len(network)} layers, {network.macs:,} MACs/image")
    return 0


def _network_from_torch(args: argparse.Namespace, shape: tuple[int, ...], notes: list[str]):
    from accelsim.workload import network_from_torch

    model = _load_model(args.from_torch)
    import torch

    floating = next((p for p in model.parameters() if p.is_floating_point()), None)
    example = torch.zeros((1, *shape), dtype=floating.dtype if floating is not None else torch.float32,
                          device=floating.device if floating is not None else "cpu")
    try:
        network = noting_warnings(notes, network_from_torch, model, example,
                                  args.name or args.from_torch.rpartition(":")[2])
    except AccelsimError as error:
        raise UsageError(f"--from-torch {args.from_torch}: {error}") from None
    return network
