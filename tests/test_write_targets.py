"""Every writer replaces a regular file only: a symbolic link, a FIFO or a device at its
target is refused with one line and exit 2, and left as it was (those refusals are rows of
tests/test_bad_input.py, built from the writers and special files below); a regular file at
the target is replaced."""

import os
import stat

import pytest

from accelsim.cli import main

TOPOLOGY = "layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n" \
           "stem,conv,3,8,8,8,3,3,1,2,2,1\nc,conv,8,8,8,8,3,3,1,2,2,1\n"


def make_symlink(path):
    target = path.with_name("target.txt")
    target.write_text("keep me")
    path.symlink_to(target)


def make_fifo(path):
    os.mkfifo(path)


def make_device(path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("making a device node needs privileges")


SPECIAL_FILES = {"symlink": make_symlink, "fifo": make_fifo, "device": make_device}

#: each writer's command line, given the topology and its target (a table's target is in its --out folder)
WRITERS = {
    "run --timeline": lambda topology, target: ["run", "--topology", str(topology), "--timeline", str(target),
                                                "--quiet"],
    "trace synth --out": lambda topology, target: ["trace", "synth", "--topology", str(topology), "--images", "2",
                                                   "--out", str(target), "--quiet"],
    "run --out (a table)": lambda topology, target: ["run", "--topology", str(topology), "--out", str(target.parent),
                                                     "--quiet"],
}


def target_of(folder, command):
    return folder / ("layers.csv" if command.startswith("run --out") else "target.out")


@pytest.mark.parametrize("command", WRITERS)
def test_a_regular_file_at_the_target_is_replaced(tmp_path, capsys, command):
    topology = tmp_path / "net.csv"
    topology.write_text(TOPOLOGY)
    folder = tmp_path / "out"
    folder.mkdir()
    target = target_of(folder, command)
    target.write_text("old")
    assert main(WRITERS[command](topology, target)) == 0
    assert capsys.readouterr() == ("", "")
    assert target.is_file() and not target.is_symlink() and target.read_bytes() != b"old"
