"""accelsim.atomic: every file accelsim writes is whole or absent, and no temporary is left."""

import os

import pytest

from accelsim.atomic import write_bytes_atomically, write_files_atomically


def _leftovers(folder):
    return [path.name for path in folder.rglob("*.partial")]


def test_a_file_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")
    assert write_bytes_atomically(path, b"new") == path
    assert path.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_a_failed_rename_keeps_the_old_file_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")

    def refuse(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_bytes_atomically(path, b"new")
    assert path.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_a_missing_folder_is_an_error_for_one_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes_atomically(tmp_path / "absent" / "x", b"x")
    assert list(tmp_path.iterdir()) == []


def test_several_files_make_their_folders_and_undo_them_on_failure(tmp_path):
    files = {tmp_path / "a" / "b" / "one.csv": b"1", tmp_path / "a" / "two.json": b"2"}
    assert write_files_atomically(files) == list(files)
    assert [path.read_bytes() for path in files] == [b"1", b"2"] and _leftovers(tmp_path) == []
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(OSError):
        write_files_atomically({tmp_path / "new" / "x.csv": b"x", tmp_path / "taken" / "y.csv": b"y"})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "taken"] and _leftovers(tmp_path) == []
