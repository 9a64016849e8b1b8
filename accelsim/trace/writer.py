"""Writing a gate trace (:mod:`accelsim.trace.format`): one layer at a time
(:class:`TraceWriter`) or all at once (:func:`write_trace`); the manifest is checked as a
reader checks it, and the file appears under its name only when it is whole.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from accelsim.atomic import check_target
from accelsim.errors import TraceError
from accelsim.trace.format import MANIFEST_MEMBER, TraceInfo, TraceLayer
from accelsim.trace.manifest import manifest_dict, parse_manifest

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


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


def write_trace(path: str | Path, info: TraceInfo, layers: Sequence[TraceLayer],
                masks: Mapping[str, np.ndarray]) -> Path:
    """Write a whole trace at once: ``masks[name]`` is ``(images, C, H, W)`` per layer."""
    with TraceWriter(path, info, layers) as writer:
        for layer in layers:
            if layer.name not in masks:
                raise TraceError(f"{path}: {layer.name}: no masks given")
            writer.add(layer.name, masks[layer.name])
    return Path(path)
