"""The files of a sweep's points: each point's key (:func:`point_key`, a hash of everything its
result depends on), its two tables written whole with a record of their digests
(:func:`write_point`) and read back only when both match that record (:func:`read_point`), and
the sweep's folder (:class:`SweepFolder`), created when the sweep starts and locked while it runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from accelsim.atomic import write_bytes_atomically
from accelsim.config import FIELD_NAMES, HardwareConfig
from accelsim.errors import SweepError
from accelsim.workload.layer import Network

try:
    import fcntl
except ImportError:  # not POSIX: sweeps run unlocked
    fcntl = None  # type: ignore[assignment]


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def network_digest(network: Network) -> str:
    """A digest of the network's name and every field of every layer."""
    return hashlib.sha256(repr(network).encode()).hexdigest()


def point_key(config: HardwareConfig, trace_digest: str, schedulers: Sequence[str], images: range,
              calibration: range, network: str) -> str:
    """The name of a point's files: a hash of everything its result depends on (``network``
    is :func:`network_digest`)."""
    from accelsim import __version__

    fields = repr([(name, getattr(config, name)) for name in FIELD_NAMES])
    text = "\n".join([fields, network, trace_digest, ",".join(schedulers), f"{images.start}:{images.stop}",
                      f"{calibration.start}:{calibration.stop}", __version__])
    # the letter keeps a reader of the tables from taking a key of digits (and an "e") for a number
    return "p" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _write(path: Path, data: bytes) -> None:
    """``data`` to ``path``, whole or not at all (:mod:`accelsim.atomic`)."""
    try:
        write_bytes_atomically(path, data)
    except OSError as error:
        raise SweepError(f"{path}: cannot write ({error.strerror or error})") from None


def write_point(points: Path, key: str, layers: pd.DataFrame, summary: pd.DataFrame) -> None:
    """The point's two tables, then the record of their digests that marks the point done."""
    record = {"point": key}
    for name, table, path in (("summary", summary, points / f"{key}.summary.csv"),
                              ("layers", layers, points / f"{key}.csv")):
        data = table.to_csv(index=False).encode()
        _write(path, data)
        record[name] = {"sha256": hashlib.sha256(data).hexdigest(), "rows": len(table)}
    _write(points / f"{key}.done", json.dumps(record).encode())


def read_point(points: Path, key: str) -> tuple[bytes, bytes] | None:
    """The bytes of a finished point's layer and summary files, or None unless both exist and
    match their record (a cut, emptied or altered file must be recomputed, never read)."""
    try:
        record = json.loads((points / f"{key}.done").read_bytes())
        files = [(points / f"{key}.csv").read_bytes(), (points / f"{key}.summary.csv").read_bytes()]
        expected = [record["layers"]["sha256"], record["summary"]["sha256"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("point") != key or [hashlib.sha256(data).hexdigest() for data in files] != expected:
        return None
    return files[0], files[1]


class SweepFolder:
    """The output folder of a sweep: created only when the sweep starts, locked while it runs,
    and removed again if the sweep fails before writing a point."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.created: list[Path] = []
        self.lock = None

    def __enter__(self) -> SweepFolder:
        missing = []
        for folder in (self.out / "points", self.out, *self.out.parents):
            if folder.is_dir():
                break
            if folder.exists() or folder.is_symlink():
                raise SweepError(f"{folder}: exists and is not a folder; give --out a folder")
            missing.append(folder)
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self.created.append(folder)
            self._lock()
        except OSError as error:
            self._remove()
            raise SweepError(f"{self.out}: cannot write the sweep folder ({error.strerror or error})") from None
        except BaseException:
            self._remove()
            raise
        return self

    def _lock(self) -> None:
        self.lock = open(self.out / ".lock", "a")
        if fcntl is None:
            return
        try:
            fcntl.flock(self.lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()
            self.lock = None
            raise SweepError(f"{self.out}: another sweep is writing to this folder; wait for it to "
                             "finish or give another --out") from None

    def _remove(self) -> None:
        """Remove the folders this sweep created: while it held the lock, all they hold is its own."""
        if self.created:
            shutil.rmtree(self.created[0], ignore_errors=True)
        self.created = []

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None and not any((self.out / "points").glob("*.done")):
            self._remove()
        if self.lock is not None:
            self.lock.close()  # releases the lock
