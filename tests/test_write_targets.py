"""Every writer replaces a regular file only: a symbolic link, a FIFO or a device at its
target is refused with one line and exit 2, and left as it was."""

import os
import stat

import pytest

from accelsim.cli import main

TOPOLOGY = "layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n" \
           "stem,conv,3,8,8,8,3,3,1,2,2,1\nc,conv,8,8,8,8,3,3,1,2,2,1\n"


def _symlink(path):
    target = path.with_name("target.txt")
    target.write_text("keep me")
    path.symlink_to(target)


def _fifo(path):
    os.mkfifo(path)


def _device(path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("making a device node needs privileges")


def _commands(tmp_path, target):
    topology = tmp_path / "net.csv"
    topology.write_text(TOPOLOGY)
    return {
        "run --timeline": ["run", "--topology", str(topology), "--timeline", str(target), "--quiet"],
        "trace synth --out": ["trace", "synth", "--topology", str(topology), "--images", "2", "--out", str(target),
                              "--quiet"],
        "run --out (a table)": ["run", "--topology", str(topology), "--out", str(target.parent), "--quiet"],
    }


@pytest.mark.parametrize("make", [_symlink, _fifo, _device], ids=["symlink", "fifo", "device"])
@pytest.mark.parametrize("command", ["run --timeline", "trace synth --out", "run --out (a table)"])
def test_a_special_file_at_the_target_is_refused_and_kept(tmp_path, capsys, make, command):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / ("layers.csv" if command.startswith("run --out") else "target.out")
    make(target)
    before = os.lstat(target)
    assert main(_commands(tmp_path, target)[command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0] and "refusing to replace it" in err[0]
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    if make is _symlink:
        assert target.with_name("target.txt").read_text() == "keep me"


def test_a_timeline_in_a_missing_folder_is_refused_before_the_run(tmp_path, capsys):
    topology = tmp_path / "net.csv"
    topology.write_text(TOPOLOGY)
    assert main(["run", "--topology", str(topology), "--timeline", str(tmp_path / "no" / "t.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
