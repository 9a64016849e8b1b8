"""Files written whole or not at all.

Every file accelsim writes (the tables, ``config.toml`` and ``run.json`` of ``run --out``, a
sweep's per-point files and tables, a topology CSV, a checkpoint) goes first to a hidden
temporary name in its own folder (``.NAME.PID.N.partial``) and is then renamed over its
name: a rename within one folder is atomic, so a reader sees the old file or the new one,
never half of one. On an error the temporary file is removed and the ``OSError`` is raised.

Only a regular file is ever replaced: a symlink, a device, a FIFO or a folder standing at a
target is refused (:class:`NotARegularFile`), before anything is written.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path

# a partial name is unique among the writers alive: the process id, and a serial within the
# process; a file already there under it was left by a process that died, and is overwritten
_SERIAL = itertools.count()


class NotARegularFile(OSError):
    """A write's target exists and is not a regular file (a symlink, device, FIFO, folder)."""


def check_target(path: str | Path) -> None:
    """Raise :class:`NotARegularFile` unless ``path`` is absent or a regular file (not a link)."""
    path = Path(path)
    if path.is_symlink():
        kind = "a symbolic link"
    elif not path.exists() or path.is_file():
        return
    else:
        kind = "a folder" if path.is_dir() else "a device, FIFO or socket"
    raise NotARegularFile(17, f"{path} is {kind}; refusing to replace it", str(path))


def partial_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.{next(_SERIAL)}.partial")


def _write_partial(path: Path, data: bytes) -> Path:
    partial = partial_path(path)
    try:
        with partial.open("wb") as handle:
            handle.write(data)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial


def write_bytes_atomically(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (whose folder must exist), whole or not at all."""
    path = Path(path)
    check_target(path)
    partial = _write_partial(path, data)
    try:
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def write_files_atomically(files: Mapping[Path, bytes | None]) -> list[Path]:
    """Write every file, all or nothing as far as the file system allows: each goes to a
    temporary name first, and only when all are written are they renamed into place; a path
    whose contents are None is removed then (a file an earlier run left that the new ones
    would contradict). Folders are created as needed; on an error the temporary files and the
    folders made are removed and the ``OSError`` is raised. Returns the paths written."""
    written = {path: data for path, data in files.items() if data is not None}
    for path in files:
        check_target(path)
    made: list[Path] = []
    partials: list[tuple[Path, Path]] = []
    try:
        for path in written:
            for folder in reversed([path.parent, *path.parent.parents]):
                if not folder.is_dir():
                    folder.mkdir()
                    made.append(folder)
        for path, data in written.items():
            partials.append((_write_partial(path, data), path))
        for partial, path in partials:
            os.replace(partial, path)
    except BaseException:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    for path, data in files.items():
        if data is None:
            path.unlink(missing_ok=True)
    return list(written)
