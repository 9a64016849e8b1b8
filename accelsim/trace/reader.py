"""Reading a gate trace (:mod:`accelsim.trace.format`): opening checks the archive, the
manifest and every member's header; masks are read on demand, a slice of images of one layer
at a time, and every member's CRC is checked on its first read.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import TraceError
from accelsim.limits import INFLATE_ALLOWANCE, MAX_INFLATE_RATIO, MAX_MANIFEST_BYTES, check_regular_file
from accelsim.trace.format import MANIFEST_MEMBER, TraceLayer, trace_error
from accelsim.trace.manifest import decode_manifest, parse_manifest

#: bytes read at a time by :meth:`GateTrace.validate`
VALIDATE_CHUNK_BYTES = 16 << 20
#: what zipfile and zlib raise on a damaged archive (a flipped compression method is a
#: NotImplementedError, a flipped encryption flag a RuntimeError)
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
                  NotImplementedError, RuntimeError, ValueError, OverflowError)


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
                raise trace_error(self.path, repeated[0], "member appears twice in the archive")
            self._check_inflation()
            self.info, self.layers = parse_manifest(self.path, self._read_manifest())
            self._by_name = {layer.name: layer for layer in self.layers}
            self._offsets = {layer.name: self._check_member(layer) for layer in self.layers}
            self._verified: set[str] = set()
            members = set(names) - {MANIFEST_MEMBER} - {layer.member for layer in self.layers}
            if members:
                raise trace_error(self.path, sorted(members)[0], "member not described in the manifest")
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
                raise trace_error(self.path, info.filename, f"compressed {info.compress_size:,} bytes would "
                                  f"inflate to {info.file_size:,}, more than {MAX_INFLATE_RATIO} times "
                                  "(accelsim.limits.MAX_INFLATE_RATIO); store members uncompressed")

    def _member_header(self, member: str):
        """Open a member and read its .npy header; returns (handle, shape, dtype, fortran)."""
        try:
            handle = self._zip.open(member)
        except KeyError:
            raise trace_error(self.path, member, "missing from the archive") from None
        except ARCHIVE_ERRORS as error:
            raise trace_error(self.path, member, f"corrupt ({error})") from None
        try:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, fortran, dtype = reader(handle)
        except Exception as error:  # numpy parses the header with ast/tokenize: anything can come out
            handle.close()
            raise trace_error(self.path, member, f"not a valid .npy array ({error})") from None
        return handle, shape, dtype, fortran

    def _read_manifest(self) -> Any:
        try:
            size = self._zip.getinfo(MANIFEST_MEMBER).file_size
        except KeyError:
            raise trace_error(self.path, MANIFEST_MEMBER, "missing from the archive") from None
        if size > MAX_MANIFEST_BYTES:
            raise trace_error(self.path, MANIFEST_MEMBER, f"{size:,} bytes, more than the {MAX_MANIFEST_BYTES:,} "
                              "allowed (accelsim.limits.MAX_MANIFEST_BYTES)")
        handle, shape, dtype, fortran = self._member_header(MANIFEST_MEMBER)
        with handle:
            if dtype != np.uint8 or len(shape) != 1:
                raise trace_error(self.path, MANIFEST_MEMBER, f"expected a 1-D uint8 array, got {dtype} {shape}")
            if shape[0] > size:
                raise trace_error(self.path, MANIFEST_MEMBER, "size does not match its header")
            try:
                raw = handle.read(shape[0])
                rest = handle.read()  # reading to the end makes zipfile check the CRC
            except ARCHIVE_ERRORS as error:
                raise trace_error(self.path, MANIFEST_MEMBER, f"cannot be read ({error})") from None
        if len(raw) != shape[0] or rest:
            raise trace_error(self.path, MANIFEST_MEMBER, "size does not match its header")
        return decode_manifest(self.path, raw)

    def _check_member(self, layer: TraceLayer) -> int:
        """Check a layer member's header; returns the byte offset of its data."""
        # only the header is read here (numpy bounds its size); the data's size is checked
        # against the manifest's images × bytes per image before any of it is read
        handle, shape, dtype, fortran = self._member_header(layer.member)
        with handle:
            offset = handle.tell()
        expected = (self.images, layer.bytes_per_image)
        if dtype != np.uint8:
            raise trace_error(self.path, layer.member, f"expected dtype uint8 (bit-packed), got {dtype}")
        if tuple(shape) != expected or fortran:
            raise trace_error(self.path, layer.member, f"expected shape {expected} (images, "
                              f"ceil({layer.out_channels}·{layer.out_h}·{layer.out_w}/8)) in C order, got {tuple(shape)}"
                              + (" in Fortran order" if fortran else ""))
        if self._zip.getinfo(layer.member).file_size != offset + expected[0] * expected[1]:
            raise trace_error(self.path, layer.member, "size does not match its header (truncated or padded)")
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
            raise trace_error(self.path, layer.member, f"corrupt ({error})") from None
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
            raise trace_error(self.path, member, "corrupt local header")
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
            raise trace_error(self.path, layer.member, f"cannot be read ({error})") from None
        if len(raw) != count * row:
            raise trace_error(self.path, layer.member, "truncated")
        packed = np.frombuffer(raw, dtype=np.uint8).reshape(count, row)
        spare = 8 * row - layer.decisions_per_image
        if spare and count and np.any(packed[:, -1] & ((1 << spare) - 1)):
            raise trace_error(self.path, layer.member, "padding bits after the last decision are not zero")
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
