"""The gate-trace file: a versioned, validated, bit-packed format (see docs/trace-format.md).

A trace is a ZIP archive in numpy's ``.npz`` layout, written without compression (or, asked
to, with its members deflated: readers take either):

* ``manifest.npy``: a 1-D ``uint8`` array holding the UTF-8 JSON manifest;
* ``gates/<layer name>.npy``: per gated layer, a ``uint8`` array of shape
  ``(images, ceil(out_channels·out_h·out_w / 8))``: each image's decisions, flattened in
  (channel, y, x) order and packed most significant bit first (``np.packbits``), the unused
  bits of the last byte zero.

Members are stored, not deflated, so that a slice of images of one layer is read by seeking,
without loading the other images or the other layers.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.atomic import check_target
from accelsim.errors import TraceError
from accelsim.limits import (INFLATE_ALLOWANCE, MAX_INFLATE_RATIO, MAX_LAYERS, MAX_MANIFEST_BYTES,
                             MAX_IMAGE_DECISIONS, check_regular_file)

FORMAT_NAME = "accelsim-gate-trace"
FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.npy"
GATES_PREFIX = "gates/"
MAX_SIZE = 1 << 31
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: bytes read at a time by :meth:`GateTrace.validate`
VALIDATE_CHUNK_BYTES = 16 << 20
#: what zipfile and zlib raise on a damaged archive (a flipped compression method is a
#: NotImplementedError, a flipped encryption flag a RuntimeError)
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
                  NotImplementedError, RuntimeError, ValueError, OverflowError)


@dataclass(frozen=True)
class TraceLayer:
    """Shape and gating of one gated layer, as recorded in the manifest.

    ``padding_h``/``padding_w`` are per side (PyTorch's ``padding``). ``gate_groups`` is G;
    ``base_fraction`` is η, the share of input channels on the base path. ``thresholds`` are
    the per-output-channel thresholds Δ, if the exporter recorded them. ``base_layout`` is
    ``"grouped"`` (output group g's base path is input group g) or ``"shared"`` (every output's
    base path is the first η·Cin input channels; G = 1).
    """

    name: str
    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: int
    padding_h: int
    padding_w: int
    out_h: int
    out_w: int
    gate_groups: int
    base_fraction: float
    thresholds: tuple[float, ...] | None = None
    base_layout: str = "grouped"

    @property
    def decisions_per_image(self) -> int:
        return self.out_channels * self.out_h * self.out_w

    @property
    def bytes_per_image(self) -> int:
        return -(-self.decisions_per_image // 8)

    @property
    def member(self) -> str:
        return f"{GATES_PREFIX}{self.name}.npy"

    @property
    def mask_shape(self) -> tuple[int, int, int]:
        return self.out_channels, self.out_h, self.out_w

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["thresholds"] = None if self.thresholds is None else list(self.thresholds)
        if self.base_layout == "grouped":  # the default: absent, so older traces keep their bytes
            del record["base_layout"]
        return record


LAYER_INTEGER_FIELDS = ("in_channels", "out_channels", "in_h", "in_w", "kernel_h", "kernel_w",
                        "stride", "padding_h", "padding_w", "out_h", "out_w", "gate_groups")
#: per-layer fields that may be absent from a manifest (their defaults apply)
OPTIONAL_LAYER_FIELDS = ("thresholds", "base_layout")
#: how the base path's input channels are chosen: per gate group, or one set for every output
BASE_LAYOUTS = ("grouped", "shared")
MANIFEST_FIELDS = ("format", "version", "model", "dataset", "accuracy", "images", "provenance",
                   "layers")


@dataclass(frozen=True)
class TraceInfo:
    """The manifest of a trace, less its layers (free-text fields are the exporter's)."""

    model: str
    dataset: str
    images: int
    accuracy: float | None = None
    network: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)


# -- validation of the manifest ------------------------------------------------------------
def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears twice")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _fail(path: Path, where: str, problem: str) -> TraceError:
    return TraceError(f"{path}: {where}: {problem}")


def _integer(path: Path, where: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_SIZE:
        raise _fail(path, where, f"expected an integer from {low} to {MAX_SIZE}, got {value!r}")
    return value


def _text(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, where, f"expected a string, got {value!r}")
    return value


def base_layout_problem(in_channels: int, gate_groups: int, base_fraction: float,
                        base_layout: Any) -> tuple[str, str] | None:
    """``(field, problem)`` when a layer's base layout does not fit its other fields, else None.

    ``"grouped"``: η in (0, 1] (the schedulers further need η = 1/G). ``"shared"``: every
    output's base path is the first η·Cin input channels, so 0 < η < 1 with η·Cin a whole
    number of channels, and G = 1 (there are no groups of base inputs)."""
    if base_layout not in BASE_LAYOUTS:
        return "base_layout", f"expected one of {', '.join(map(repr, BASE_LAYOUTS))}, got {base_layout!r}"
    if base_layout == "grouped":
        return None
    if not 0 < base_fraction < 1:
        return "base_fraction", f"expected a number in (0, 1) for base_layout 'shared', got {base_fraction!r}"
    channels = in_channels * base_fraction
    if abs(channels - round(channels)) > 1e-9 * max(1, in_channels):
        return "base_fraction", (f"in_channels·base_fraction = {in_channels}·{base_fraction} = {channels:g} "
                                 "is not a whole number of input channels (base_layout 'shared')")
    if gate_groups != 1:
        return "gate_groups", f"expected 1 for base_layout 'shared' (one base path for every output), got {gate_groups}"
    return None


def _parse_layer(path: Path, index: int, record: Any) -> TraceLayer:
    where = f"layers[{index}]"
    if not isinstance(record, dict):
        raise _fail(path, where, f"expected an object, got {type(record).__name__}")
    expected = {f for f in TraceLayer.__dataclass_fields__}
    missing = sorted(expected - set(record) - set(OPTIONAL_LAYER_FIELDS))
    if missing:
        raise _fail(path, f"{where}.{missing[0]}", "missing")
    unknown = sorted(set(record) - expected)
    if unknown:
        raise _fail(path, f"{where}.{unknown[0]}", "unknown field")
    name = _text(path, f"{where}.name", record["name"])
    if not name or "/" in name or not name.isprintable():
        raise _fail(path, f"{where}.name", f"expected a non-empty printable name without '/', got {name!r}")
    values = {key: _integer(path, f"{where}.{key}", record[key], 0 if key.startswith("padding") else 1)
              for key in LAYER_INTEGER_FIELDS}
    where = f"layers[{index}] ({name!r})"
    eta = record["base_fraction"]
    if not isinstance(eta, (int, float)) or isinstance(eta, bool) or not 0 < eta <= 1:
        raise _fail(path, f"{where}.base_fraction", f"expected a number in (0, 1], got {eta!r}")
    for axis in ("h", "w"):
        size, kernel, pad = values[f"in_{axis}"], values[f"kernel_{axis}"], values[f"padding_{axis}"]
        if kernel > size + 2 * pad:
            raise _fail(path, f"{where}.kernel_{axis}",
                        f"{kernel} is larger than the padded input {size + 2 * pad}")
        out = (size + 2 * pad - kernel) // values["stride"] + 1
        if values[f"out_{axis}"] != out:
            raise _fail(path, f"{where}.out_{axis}", f"expected {out} (from in_{axis}, "
                        f"kernel_{axis}, stride, padding_{axis}), got {values[f'out_{axis}']}")
    decisions = values["out_channels"] * values["out_h"] * values["out_w"]
    if decisions > MAX_IMAGE_DECISIONS:
        raise _fail(path, f"{where}.out_channels", f"{decisions:,} decisions per image (out_channels·"
                    f"out_h·out_w), more than the {MAX_IMAGE_DECISIONS:,} allowed "
                    "(accelsim.limits.MAX_IMAGE_DECISIONS)")
    groups = values["gate_groups"]
    if values["out_channels"] % groups or values["in_channels"] % groups:
        raise _fail(path, f"{where}.gate_groups", f"expected a divisor of in_channels "
                    f"({values['in_channels']}) and out_channels ({values['out_channels']}), got {groups}")
    layout = record.get("base_layout", "grouped")
    problem = base_layout_problem(values["in_channels"], groups, float(eta), layout)
    if problem is not None:
        raise _fail(path, f"{where}.{problem[0]}", problem[1])
    thresholds = record.get("thresholds")
    if thresholds is not None:
        if (not isinstance(thresholds, list) or len(thresholds) != values["out_channels"]
                or not all(_finite(t) for t in thresholds)):
            raise _fail(path, f"{where}.thresholds",
                        f"expected null or a list of {values['out_channels']} finite numbers")
        thresholds = tuple(float(t) for t in thresholds)
    return TraceLayer(name=name, base_fraction=float(eta), thresholds=thresholds, base_layout=layout, **values)


def parse_manifest(path: Path, manifest: Any) -> tuple[TraceInfo, tuple[TraceLayer, ...]]:
    """Check a decoded manifest; raises :class:`TraceError` naming the first bad field."""
    if not isinstance(manifest, dict):
        raise _fail(path, "manifest", "expected a JSON object")
    missing = [key for key in MANIFEST_FIELDS if key not in manifest]
    if missing:
        raise _fail(path, f"manifest.{missing[0]}", "missing")
    if manifest["format"] != FORMAT_NAME:
        raise _fail(path, "manifest.format", f"expected {FORMAT_NAME!r}, got {manifest['format']!r}")
    version = manifest["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise _fail(path, "manifest.version",
                    f"expected {FORMAT_VERSION} (the version this accelsim reads), got {manifest['version']!r}")
    images = _integer(path, "manifest.images", manifest["images"], 1)
    accuracy = manifest["accuracy"]
    if accuracy is not None and (not isinstance(accuracy, (int, float)) or isinstance(accuracy, bool)
                                 or not 0 <= accuracy <= 1):
        raise _fail(path, "manifest.accuracy", f"expected null or a fraction in [0, 1], got {accuracy!r}")
    network = manifest.get("network")
    if network is not None:
        _text(path, "manifest.network", network)
    if not isinstance(manifest["provenance"], dict):
        raise _fail(path, "manifest.provenance", "expected an object")
    if not isinstance(manifest["layers"], list) or not manifest["layers"]:
        raise _fail(path, "manifest.layers", "expected a non-empty list")
    if len(manifest["layers"]) > MAX_LAYERS:
        raise _fail(path, "manifest.layers", f"{len(manifest['layers']):,} layers, more than the "
                    f"{MAX_LAYERS:,} allowed (accelsim.limits.MAX_LAYERS)")
    layers = tuple(_parse_layer(path, i, record) for i, record in enumerate(manifest["layers"]))
    names: set[str] = set()
    for layer in layers:
        if layer.name in names:
            raise _fail(path, "manifest.layers", f"layer {layer.name!r} appears twice")
        names.add(layer.name)
    info = TraceInfo(model=_text(path, "manifest.model", manifest["model"]),
                     dataset=_text(path, "manifest.dataset", manifest["dataset"]), images=images,
                     accuracy=None if accuracy is None else float(accuracy), network=network,
                     provenance=manifest["provenance"])
    return info, layers


# -- reading ----------------------------------------------------------------------------------
class GateTrace:
    """An open gate trace. Opening reads the manifest and checks every member's header; masks
    are read on demand, one layer and a slice of images at a time.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_regular_file(self.path, TraceError)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise TraceError(f"{self.path}: no such file") from None
        except ARCHIVE_ERRORS as error:
            raise TraceError(f"{self.path}: not a gate trace (not a readable .npz archive: {error})") from None
        try:
            names = self._zip.namelist()
            if len(set(names)) != len(names):
                seen: set[str] = set()
                repeated = sorted({name for name in names if name in seen or seen.add(name)})
                raise _fail(self.path, repeated[0], "member appears twice in the archive")
            self._check_inflation()
            self.info, self.layers = parse_manifest(self.path, self._read_manifest())
            self._by_name = {layer.name: layer for layer in self.layers}
            self._offsets = {layer.name: self._check_member(layer) for layer in self.layers}
            self._verified: set[str] = set()
            members = set(names) - {MANIFEST_MEMBER} - {layer.member for layer in self.layers}
            if members:
                raise _fail(self.path, sorted(members)[0], "member not described in the manifest")
        except BaseException:
            self._zip.close()
            raise

    # context management
    def __enter__(self) -> GateTrace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def images(self) -> int:
        return self.info.images

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def layer(self, name: str) -> TraceLayer:
        layer = self._by_name.get(name)
        if layer is not None:
            return layer
        raise TraceError(f"{self.path}: no gated layer {name!r}; the trace has: {', '.join(self.layer_names)}")

    def _check_inflation(self) -> None:
        """Refuse, before inflating anything, a compressed member that would inflate to far
        more than it occupies in the file (a "zip bomb")."""
        for info in self._zip.infolist():
            if (info.compress_type != zipfile.ZIP_STORED
                    and info.file_size > MAX_INFLATE_RATIO * info.compress_size + INFLATE_ALLOWANCE):
                raise _fail(self.path, info.filename, f"compressed {info.compress_size:,} bytes would "
                            f"inflate to {info.file_size:,}, more than {MAX_INFLATE_RATIO} times "
                            "(accelsim.limits.MAX_INFLATE_RATIO); store members uncompressed")

    def _member_header(self, member: str):
        """Open a member and read its .npy header; returns (handle, shape, dtype, fortran)."""
        try:
            handle = self._zip.open(member)
        except KeyError:
            raise _fail(self.path, member, "missing from the archive") from None
        except ARCHIVE_ERRORS as error:
            raise _fail(self.path, member, f"corrupt ({error})") from None
        try:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran, dtype = reader(handle)
        except Exception as error:  # numpy parses the header with ast/tokenize: anything can come out
            handle.close()
            raise _fail(self.path, member, f"not a valid .npy array ({error})") from None
        return handle, shape, dtype, fortran

    def _read_manifest(self) -> Any:
        try:
            size = self._zip.getinfo(MANIFEST_MEMBER).file_size
        except KeyError:
            raise _fail(self.path, MANIFEST_MEMBER, "missing from the archive") from None
        if size > MAX_MANIFEST_BYTES:
            raise _fail(self.path, MANIFEST_MEMBER, f"{size:,} bytes, more than the {MAX_MANIFEST_BYTES:,} "
                        "allowed (accelsim.limits.MAX_MANIFEST_BYTES)")
        handle, shape, dtype, fortran = self._member_header(MANIFEST_MEMBER)
        with handle:
            if dtype != np.uint8 or len(shape) != 1:
                raise _fail(self.path, MANIFEST_MEMBER, f"expected a 1-D uint8 array, got {dtype} {shape}")
            if shape[0] > size:
                raise _fail(self.path, MANIFEST_MEMBER, "size does not match its header")
            try:
                raw = handle.read(shape[0])
                rest = handle.read()  # reading to the end makes zipfile check the CRC
            except ARCHIVE_ERRORS as error:
                raise _fail(self.path, MANIFEST_MEMBER, f"cannot be read ({error})") from None
        if len(raw) != shape[0] or rest:
            raise _fail(self.path, MANIFEST_MEMBER, "size does not match its header")
        try:
            return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                              parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise _fail(self.path, "manifest", f"not valid UTF-8 JSON ({error})") from None

    def _check_member(self, layer: TraceLayer) -> int:
        """Check a layer member's header; returns the byte offset of its data."""
        # only the header is read here (numpy bounds its size); the data's size is checked
        # against the manifest's images × bytes per image before any of it is read
        handle, shape, dtype, fortran = self._member_header(layer.member)
        with handle:
            offset = handle.tell()
        expected = (self.images, layer.bytes_per_image)
        if dtype != np.uint8:
            raise _fail(self.path, layer.member, f"expected dtype uint8 (bit-packed), got {dtype}")
        if tuple(shape) != expected or fortran:
            raise _fail(self.path, layer.member, f"expected shape {expected} (images, "
                        f"ceil({layer.out_channels}·{layer.out_h}·{layer.out_w}/8)) in C order, got {tuple(shape)}"
                        + (" in Fortran order" if fortran else ""))
        if self._zip.getinfo(layer.member).file_size != offset + expected[0] * expected[1]:
            raise _fail(self.path, layer.member, "size does not match its header (truncated or padded)")
        return offset

    def _verify(self, layer: TraceLayer) -> None:
        """Stream a member once, in bounded memory, so that zipfile checks its CRC: a flipped
        bit is an error rather than a silently wrong decision."""
        if layer.name in self._verified:
            return
        try:
            with self._zip.open(layer.member) as handle:
                while handle.read(1 << 20):
                    pass
        except ARCHIVE_ERRORS as error:
            raise _fail(self.path, layer.member, f"corrupt ({error})") from None
        self._verified.add(layer.name)

    def _stored_data_start(self, member: str) -> int | None:
        """File offset of a stored, unencrypted member's data (None for other members)."""
        info = self._zip.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        with self.path.open("rb") as handle:
            handle.seek(info.header_offset)
            header = handle.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise _fail(self.path, member, "corrupt local header")
        name_length, extra_length = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
        return info.header_offset + 30 + name_length + extra_length

    def read_packed(self, name: str, images: slice = slice(None)) -> np.ndarray:
        """The packed bytes of ``images`` of layer ``name``: ``(n, bytes_per_image)`` uint8.

        The first read of a layer checks the whole member's CRC (streamed, not loaded)."""
        layer = self.layer(name)
        self._verify(layer)
        start, stop, step = images.indices(self.images)
        if step != 1:
            raise TraceError(f"{self.path}: images: expected a contiguous slice, got step {step}")
        count = max(0, stop - start)
        row = layer.bytes_per_image
        try:
            data_start = self._stored_data_start(layer.member)
            if data_start is not None:  # stored: read the bytes where they lie
                with self.path.open("rb") as handle:
                    handle.seek(data_start + self._offsets[name] + start * row)
                    raw = handle.read(count * row)
            else:  # deflated and the like: zipfile decompresses up to the slice
                with self._zip.open(layer.member) as handle:
                    handle.seek(self._offsets[name] + start * row)
                    raw = handle.read(count * row)
        except ARCHIVE_ERRORS as error:
            raise _fail(self.path, layer.member, f"cannot be read ({error})") from None
        if len(raw) != count * row:
            raise _fail(self.path, layer.member, "truncated")
        packed = np.frombuffer(raw, dtype=np.uint8).reshape(count, row)
        spare = 8 * row - layer.decisions_per_image
        if spare and count and np.any(packed[:, -1] & ((1 << spare) - 1)):
            raise _fail(self.path, layer.member, "padding bits after the last decision are not zero")
        return packed

    def read(self, name: str, images: slice = slice(None)) -> np.ndarray:
        """Decisions of ``images`` of layer ``name``: bool array ``(n, out_channels, out_h, out_w)``."""
        layer = self.layer(name)
        packed = self.read_packed(name, images)
        bits = np.unpackbits(packed, axis=1, count=layer.decisions_per_image).astype(bool)
        return bits.reshape(len(packed), *layer.mask_shape)

    def iter_chunks(self, name: str, chunk_images: int = 64) -> Iterator[tuple[int, np.ndarray]]:
        """``(first image, masks)`` over the whole layer, ``chunk_images`` images at a time."""
        for start in range(0, self.images, chunk_images):
            yield start, self.read(name, slice(start, start + chunk_images))

    def validate(self) -> list[str]:
        """Deep check of every layer: every byte read (CRCs checked), unused bits zero.
        Returns the problems found, one line each."""
        problems = []
        for layer in self.layers:
            step = max(1, min(256, VALIDATE_CHUNK_BYTES // layer.bytes_per_image))
            try:
                for start in range(0, self.images, step):
                    self.read_packed(layer.name, slice(start, start + step))
            except TraceError as error:
                problems.append(str(error))
        return problems


def open_trace(path: str | Path) -> GateTrace:
    """Open a gate trace (raises :class:`TraceError` with the file and field on any problem)."""
    return GateTrace(path)


# -- writing ----------------------------------------------------------------------------------
class TraceWriter:
    """Write a trace one layer at a time (memory holds one layer's packed bits at most).

    The file appears under its name only when :meth:`close` succeeds; on an error nothing is
    left behind.
    """

    def __init__(self, path: str | Path, info: TraceInfo, layers: Sequence[TraceLayer],
                 compress: bool = False) -> None:
        self.path = Path(path)
        self.info, self.layers = info, tuple(layers)
        manifest = manifest_dict(info, self.layers)
        try:
            encoded = json.dumps(manifest, indent=1, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TraceError(f"{self.path}: manifest: not JSON-serialisable ({error})") from None
        parse_manifest(self.path, json.loads(encoded))  # same checks as a reader
        self._pending = {layer.name: layer for layer in self.layers}
        if self.path.is_dir() and not self.path.is_symlink():
            raise TraceError(f"{self.path}: is a directory; expected a file name for the trace")
        try:  # as every writer: only a regular file is replaced, never a link, device or FIFO
            check_target(self.path)
        except OSError as error:
            raise TraceError(f"{self.path}: cannot write ({error.strerror})") from None
        directory = self.path.parent if str(self.path.parent) else Path(".")
        try:
            handle, self._temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        except OSError as error:
            raise TraceError(f"{self.path}: cannot write ({error.strerror})") from None
        os.close(handle)
        # deflated members (``compress``) make a large trace smaller; readers take either
        self._zip = zipfile.ZipFile(self._temporary, "w",
                                    compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        self._write_array(MANIFEST_MEMBER, np.frombuffer(encoded.encode(), np.uint8))

    def _member(self, member: str) -> zipfile.ZipInfo:
        # a fixed timestamp: the same decisions always give the same bytes
        info = zipfile.ZipInfo(member, date_time=ZIP_EPOCH)
        info.external_attr = 0o644 << 16
        info.compress_type = self._zip.compression
        return info

    def _write_array(self, member: str, array: np.ndarray) -> None:
        info = self._member(member)
        with self._zip.open(info, "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)

    def add(self, name: str, masks: np.ndarray) -> None:
        """Add the decisions of every image of layer ``name``: ``(images, C, H, W)``, bool or 0/1."""
        layer = self._take(name)
        masks = np.asarray(masks)
        expected = (self.info.images, *layer.mask_shape)
        if masks.shape != expected:
            raise TraceError(f"{self.path}: {name}: expected masks of shape {expected}, got {masks.shape}")
        self._store(layer, pack_masks(masks))

    def add_packed(self, name: str, packed: np.ndarray) -> None:
        """Add already packed decisions ``(images, bytes_per_image)`` of layer ``name``."""
        self._store(self._take(name), packed)

    def add_packed_chunks(self, name: str, chunks: Iterable[np.ndarray]) -> None:
        """Add the packed decisions of layer ``name`` as consecutive chunks of images, each
        ``(n, bytes_per_image)`` uint8: memory holds one chunk, not the layer."""
        layer = self._take(name)
        row = layer.bytes_per_image
        info = self._member(layer.member)
        written = 0
        with self._zip.open(info, "w", force_zip64=True) as handle:
            np.lib.format.write_array_header_1_0(
                handle, {"descr": "|u1", "fortran_order": False, "shape": (self.info.images, row)})
            for chunk in chunks:
                if chunk.dtype != np.uint8 or chunk.ndim != 2 or chunk.shape[1] != row:
                    raise TraceError(f"{self.path}: {name}: expected packed uint8 chunks of {row} bytes "
                                     f"per image, got {chunk.dtype} {chunk.shape}")
                written += len(chunk)
                if written > self.info.images:
                    break
                handle.write(np.ascontiguousarray(chunk).tobytes())
        if written != self.info.images:
            raise TraceError(f"{self.path}: {name}: expected {self.info.images} images, got {written}")

    def _take(self, name: str) -> TraceLayer:
        layer = self._pending.pop(name, None)
        if layer is None:
            raise TraceError(f"{self.path}: {name}: not a pending layer of this trace")
        return layer

    def _store(self, layer: TraceLayer, packed: np.ndarray) -> None:
        name = layer.name
        if packed.shape != (self.info.images, layer.bytes_per_image) or packed.dtype != np.uint8:
            raise TraceError(f"{self.path}: {name}: expected packed uint8 of shape "
                             f"{(self.info.images, layer.bytes_per_image)}, got {packed.dtype} {packed.shape}")
        self._write_array(layer.member, packed)

    def close(self) -> None:
        if self._pending:
            self.abort()
            raise TraceError(f"{self.path}: layers never written: {', '.join(self._pending)}")
        self._zip.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._temporary, 0o666 & ~umask)  # mkstemp makes it private
        try:
            os.replace(self._temporary, self.path)
        except OSError as error:
            Path(self._temporary).unlink(missing_ok=True)
            raise TraceError(f"{self.path}: cannot write ({error.strerror})") from None

    def abort(self) -> None:
        self._zip.close()
        Path(self._temporary).unlink(missing_ok=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """``(images, C, H, W)`` decisions → ``(images, ceil(C·H·W/8))`` uint8, MSB first."""
    flat = np.asarray(masks).reshape(len(masks), -1)
    if flat.dtype != bool:
        if not np.isin(flat, (0, 1)).all():
            raise TraceError("masks: expected booleans or 0/1 values")
        flat = flat.astype(bool)
    return np.packbits(flat, axis=1)


def manifest_dict(info: TraceInfo, layers: Sequence[TraceLayer]) -> dict[str, Any]:
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": info.model,
                "dataset": info.dataset, "accuracy": info.accuracy, "images": info.images,
                "provenance": dict(info.provenance), "layers": [layer.to_json() for layer in layers]}
    if info.network is not None:
        manifest["network"] = info.network
    return manifest


def write_trace(path: str | Path, info: TraceInfo, layers: Sequence[TraceLayer],
                masks: Mapping[str, np.ndarray]) -> Path:
    """Write a whole trace at once: ``masks[name]`` is ``(images, C, H, W)`` per layer."""
    with TraceWriter(path, info, layers) as writer:
        for layer in layers:
            if layer.name not in masks:
                raise TraceError(f"{path}: {layer.name}: no masks given")
            writer.add(layer.name, masks[layer.name])
    return Path(path)
