"""Topology CSV files: SCALE-Sim's, read as SCALE-Sim reads them, and accelsim's own form.

Convolution form (header row, then one layer per row; the trailing comma is optional)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,

IFMAP sizes are given already padded. SCALE-Sim sizes the output as
``ceil((H − kh + stride) / stride)``; where the stride does not divide ``H − kh`` that is one
more than a real convolution gives, so the import records the extra zero rows/columns this
implies in ``pad_h``/``pad_w`` and the layer's output size matches SCALE-Sim's. A ``Sparsity``
column (SCALE-Sim 3's static N:M weight sparsity) is accepted and ignored with a warning. A
layer whose name contains ``DP`` is expanded as SCALE-Sim expands it: into ``Channels`` layers
named ``<name>Channel_<i>``, each with one input channel and all ``Num Filter`` filters (note
that this is SCALE-Sim's reading of "depthwise", not ``groups = Channels``; use a built-in
network or :class:`~accelsim.workload.Layer` for true grouped convolutions).

GEMM form, with a header whose columns are ``Layer, M, N, K``: one ``M×K · K×N`` product per row.

accelsim's own form (written by :func:`write_topology` and ``accelsim topology``) holds every
field of a :class:`~accelsim.workload.Layer`, with real padding, so it reads back to the same
network::

    layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups

``in_h``/``in_w`` are the input sizes before padding; ``pad_h``/``pad_w`` the zero rows and
columns added in all (top + bottom: PyTorch's ``padding=1`` is 2); ``kind`` is ``conv``, ``fc``
or ``gemm``. It is recognised by its header. In any form, lines before the header that start
with ``#`` are comments, and ``# network: NAME`` names the network (else the file's stem).

The file is read row by row; a network holds at most :data:`~accelsim.limits.MAX_LAYERS`
layers (after the expansion of ``DP`` rows) and each layer stays within the GEMM bounds of
:mod:`accelsim.limits`, checked before the layer is built (see docs/limits.md).
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import replace
from pathlib import Path

from collections.abc import Iterator
from typing import TextIO

from accelsim.atomic import write_bytes_atomically
from accelsim.errors import TopologyError, WorkloadError
from accelsim.limits import MAX_LAYERS, MAX_TOPOLOGY_LINE, check_regular_file
from accelsim.workload.layer import MAX_DIMENSION, Layer, Network, gemm_size_problem

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                "Channels", "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer", "M", "N", "K")
NATIVE_COLUMNS = ("layer", "kind", "in_channels", "out_channels", "in_h", "in_w", "kernel_h",
                  "kernel_w", "stride", "pad_h", "pad_w", "groups")
NAME_COMMENT = "# network:"
#: what the model computes that no layer runs (:attr:`Network.uncounted`), kept with the topology
UNCOUNTED_COMMENT = "# not counted:"


def _strip_trailing(cells: list[str]) -> list[str]:
    cells = [cell.strip() for cell in cells]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _integers(path: Path, line: int, names: tuple[str, ...], cells: list[str]) -> list[int]:
    values = []
    for name, cell in zip(names, cells):
        try:
            value = int(cell)
        except ValueError:
            raise TopologyError(f"{path}:{line}: {name}: expected a positive integer, got {cell!r}") from None
        if value < 1:
            raise TopologyError(f"{path}:{line}: {name}: expected a positive integer, got {value}")
        values.append(value)
    return values


def _conv_layers(path: Path, line: int, cells: list[str], room: int) -> list[Layer]:
    name = cells[0]
    height, width, kernel_h, kernel_w, channels, filters, stride = _integers(
        path, line, CONV_COLUMNS[1:], cells[1:8])
    if kernel_h > height or kernel_w > width:
        raise TopologyError(f"{path}:{line}: filter {kernel_h}x{kernel_w} is larger than the "
                            f"IFMAP {height}x{width}")
    out_h = -(-(height - kernel_h + stride) // stride)
    out_w = -(-(width - kernel_w + stride) // stride)
    pad_h = (out_h - 1) * stride + kernel_h - height
    pad_w = (out_w - 1) * stride + kernel_w - width
    depthwise = "DP" in name
    if depthwise and channels > room:
        raise TopologyError(f"{path}:{line}: Channels: a DP row becomes one layer per channel; "
                            f"{channels:,} more layers exceed the {MAX_LAYERS:,} a network may have "
                            "(accelsim.limits.MAX_LAYERS)")
    # checked on the row's own numbers, before any layer (or list of them) is built; a
    # number beyond any layer's bounds is left to Layer, which names its field
    problem = max(height, width, channels, filters, stride) <= MAX_DIMENSION and gemm_size_problem(
        out_h * out_w, filters, (1 if depthwise else channels) * kernel_h * kernel_w,
        terms=("output pixels (from IFMAP Height, IFMAP Width, Filter Height, Filter Width, Strides)",
               "Num Filter", "Filter Height × Filter Width" + ("" if depthwise else " × Channels")))
    if problem:
        raise TopologyError(f"{path}:{line}: layer {name!r}: {problem}")
    if depthwise:
        return [Layer(f"{name}Channel_{index}", 1, filters, height, width, kernel_h, kernel_w,
                      stride, pad_h, pad_w) for index in range(channels)]
    return [Layer(name, channels, filters, height, width, kernel_h, kernel_w, stride, pad_h, pad_w)]


def _gemm_layers(path: Path, line: int, cells: list[str], room: int) -> list[Layer]:
    m, n, k = _integers(path, line, GEMM_COLUMNS[1:], cells[1:4])
    problem = max(m, n, k) <= MAX_DIMENSION and gemm_size_problem(m, n, k)
    if problem:
        raise TopologyError(f"{path}:{line}: layer {cells[0]!r}: {problem}")
    return [Layer.gemm(cells[0], m, n, k)]


def _native_layers(path: Path, line: int, cells: list[str], room: int) -> list[Layer]:
    values: list[int] = []
    for column, cell in zip(NATIVE_COLUMNS[2:], cells[2:]):
        low = 0 if column.startswith("pad") else 1
        try:
            value = int(cell)
        except ValueError:
            value = -1
        if value < low:
            kind = "a non-negative" if low == 0 else "a positive"
            raise TopologyError(f"{path}:{line}: {column}: expected {kind} integer, got {cell!r}")
        values.append(value)
    return [Layer(cells[0], *values, kind=cells[1])]


def _lines(path: Path, handle: TextIO) -> Iterator[str]:
    """The file's lines, each read with a bounded length: a file without line breaks is an
    error, not a single huge line."""
    number = 0
    while True:
        line = handle.readline(MAX_TOPOLOGY_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_TOPOLOGY_LINE:
            raise TopologyError(f"{path}:{number}: line longer than {MAX_TOPOLOGY_LINE:,} characters "
                                "(accelsim.limits.MAX_TOPOLOGY_LINE)")
        yield line


def load_topology(path: str | Path, name: str | None = None) -> Network:
    """Read a SCALE-Sim topology CSV (convolution or GEMM form) into a :class:`Network`.

    Errors name the file and the line: ``file.csv:7: Strides: expected a positive integer``.
    """
    path = Path(path)
    check_regular_file(path, TopologyError)
    try:
        with path.open(newline="") as handle:
            layers, sparsity_seen, native, declared, uncounted = _read_rows(path, csv.reader(_lines(path, handle)))
    except FileNotFoundError:
        raise TopologyError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TopologyError(f"{path}: cannot be read ({error})") from None
    if sparsity_seen:
        warnings.warn(f"{path}: the Sparsity column is ignored: layers run dense "
                      "(static weight sparsity is not modelled)", stacklevel=2)
    if uncounted:  # said again on every run of the file, not only when it was written
        warnings.warn(f"{path}: not counted (no layer of the array runs them): {uncounted}", stacklevel=2)
    try:  # accelsim's own form holds names as the network has them: a repeat is an error
        return Network(name or declared or path.stem,
                       tuple(layers if native else _unique_names(path, layers)), uncounted)
    except WorkloadError as error:
        raise TopologyError(f"{path}: {error}") from None


def _read_rows(path: Path, reader) -> tuple[list[Layer], bool, bool, str | None, str]:
    """The layers of every row after the header, whether a Sparsity field was seen, whether
    the file is in accelsim's own form, the name its ``# network:`` comment gives and what its
    ``# not counted:`` comment says."""
    header_line, header, declared, uncounted = 0, [], None, ""
    try:
        for cells in reader:
            header = _strip_trailing(cells)
            if header and header[0].startswith("#"):
                if header[0].startswith(NAME_COMMENT):  # a name with commas spans cells
                    declared = ",".join(header)[len(NAME_COMMENT):].strip() or None
                elif header[0].startswith(UNCOUNTED_COMMENT):
                    uncounted = ",".join(header)[len(UNCOUNTED_COMMENT):].strip()
                header = []
                continue
            if header:
                header_line = reader.line_num
                break
    except csv.Error as error:
        raise TopologyError(f"{path}:{reader.line_num}: not valid CSV ({error})") from None
    if not header:
        raise TopologyError(f"{path}: empty topology; expected a header row and one row per layer")
    native = len(header) > 1 and header[1].lower() == "kind"
    if native and [cell.lower() for cell in header] != list(NATIVE_COLUMNS):
        raise TopologyError(f"{path}:{header_line}: expected accelsim's header row '{','.join(NATIVE_COLUMNS)}'")
    gemm = [cell.upper() for cell in header[1:4]] == ["M", "N", "K"]
    columns = NATIVE_COLUMNS if native else GEMM_COLUMNS if gemm else CONV_COLUMNS
    if not native and not gemm and (len(header) < len(CONV_COLUMNS) or header[1].lower() != "ifmap height"):
        raise TopologyError(f"{path}:{header_line}: expected a header row "
                            f"'{', '.join(CONV_COLUMNS)},' or '{', '.join(GEMM_COLUMNS)},' "
                            f"or accelsim's '{','.join(NATIVE_COLUMNS)}'")
    extra = header[len(columns):]
    if extra and [cell.lower() for cell in extra] != ["sparsity"]:
        raise TopologyError(f"{path}:{header_line}: unexpected column(s) {', '.join(extra)}; "
                            f"expected {', '.join(columns)} and optionally Sparsity")
    layers: list[Layer] = []
    sparsity_seen = False
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as error:
            raise TopologyError(f"{path}:{reader.line_num}: not valid CSV ({error})") from None
        if cells is None:
            break
        cells = _strip_trailing(cells)
        if not cells:
            continue
        number = reader.line_num
        if native and len(cells) != len(columns):
            raise TopologyError(f"{path}:{number}: expected {len(columns)} fields "
                                f"({','.join(columns)}), got {len(cells)}")
        # SCALE-Sim reads a trailing Sparsity field whether or not the header names it
        if not len(columns) <= len(cells) <= len(columns) + 1:
            raise TopologyError(f"{path}:{number}: expected {len(columns)} fields "
                                f"({', '.join(columns)}) and optionally Sparsity, got {len(cells)}")
        sparsity_seen |= len(cells) > len(columns)
        room = MAX_LAYERS - len(layers)
        if room <= 0:
            raise TopologyError(f"{path}:{number}: more than {MAX_LAYERS:,} layers "
                                "(accelsim.limits.MAX_LAYERS)")
        try:
            read = _native_layers if native else _gemm_layers if gemm else _conv_layers
            layers.extend(read(path, number, cells, room))
        except WorkloadError as error:
            raise TopologyError(f"{path}:{number}: {error}") from None
    if not layers:
        raise TopologyError(f"{path}: no layers after the header row")
    return layers, sparsity_seen, native, declared, uncounted


def _unique_names(path: Path, layers: list[Layer]) -> list[Layer]:
    """SCALE-Sim allows repeated layer names; accelsim matches layers (and gate traces) by
    name, so a repeat gets a ``#2``, ``#3``… suffix, with a warning."""
    seen: dict[str, int] = {}
    renamed = []
    result = []
    for layer in layers:
        seen[layer.name] = seen.get(layer.name, 0) + 1
        if seen[layer.name] > 1:
            new_name = f"{layer.name}#{seen[layer.name]}"
            renamed.append(f"{layer.name} -> {new_name}")
            layer = replace(layer, name=new_name)
        result.append(layer)
    if renamed:
        warnings.warn(f"{path}: repeated layer names renamed: {', '.join(renamed)}", stacklevel=3)
    return result


def dumps_topology(network: Network) -> str:
    """``network`` as a topology CSV in accelsim's own form, its name in a ``# network:`` line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"{NAME_COMMENT} {network.name}"])
    if network.uncounted:
        writer.writerow([f"{UNCOUNTED_COMMENT} {network.uncounted}"])
    writer.writerow(NATIVE_COLUMNS)
    for layer in network:
        writer.writerow([layer.name, layer.kind, *(getattr(layer, column) for column in NATIVE_COLUMNS[2:])])
    return buffer.getvalue()


def write_topology(network: Network, path: str | Path) -> Path:
    """Write ``network`` to ``path`` in accelsim's own form (see :func:`dumps_topology`), whole
    or not at all: a temporary file in the same folder is renamed over ``path``."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise TopologyError(f"{path}: cannot write (not a regular file)")
    try:
        return write_bytes_atomically(path, dumps_topology(network).encode())
    except OSError as error:
        raise TopologyError(f"{path}: cannot write ({error.strerror or error})") from None
