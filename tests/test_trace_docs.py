"""traces/README.md shows what the shipped traces and checkpoints give: every ```text block under
a backquoted ``accelsim`` command is that command's output, every results table is the recipe's
report of the shipped checkpoint, and the per-epoch accuracies it quotes are the checkpoint's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from accelsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
TRACES_README = (ROOT / "traces" / "README.md").read_text()


def command_blocks() -> list[tuple[list[str], list[str]]]:
    """Each ```text block with the last backquoted ``accelsim …`` command of the paragraph just
    above it: (argv, the lines shown)."""
    found = []
    for match in re.finditer(r"((?:[^\n]+\n)+)\n?```text\n(.*?)```", TRACES_README, flags=re.S):
        commands = re.findall(r"`(accelsim [^`]+)`", match.group(1))
        if commands:
            found.append((shlex.split(commands[-1])[1:], match.group(2).rstrip("\n").split("\n")))
    return found


BLOCKS = command_blocks()


def test_every_output_block_has_its_command():
    assert [argv[:2] for argv, _ in BLOCKS] == [["trace", "info"], ["trace", "synth"]] * 2


@pytest.mark.heavy
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[" ".join(argv[:4]) for argv, _ in BLOCKS])
def test_an_output_block_is_what_its_command_prints(index, tmp_path, monkeypatch, capsys):
    argv, shown = BLOCKS[index]
    (tmp_path / "traces").symlink_to(ROOT / "traces")  # the command's relative paths, its output beside
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    printed = capsys.readouterr().out.rstrip("\n").split("\n")
    assert [line.rstrip() for line in printed] == [line.rstrip() for line in shown]


def sections() -> dict[str, str]:
    """The README's text about each shipped model, by model."""
    resnet18 = TRACES_README.index("## `resnet18-fmnist.npz`")
    return {"resnet20": TRACES_README[:resnet18], "resnet18": TRACES_README[resnet18:]}


@pytest.mark.parametrize("model", ["resnet20", "resnet18"])
def test_the_results_tables_are_the_shipped_checkpoint_s_report(model):
    pytest.importorskip("torch")
    from workloads.recipe import PLANS, report

    tables = report(PLANS[model].checkpoint)
    assert tables in sections()[model]


def test_the_quoted_per_epoch_accuracies_are_the_checkpoint_s():
    pytest.importorskip("torch")
    from workloads.compact import read_checkpoint
    from workloads.recipe import PLANS

    saved = read_checkpoint(PLANS["resnet20"].checkpoint)
    accuracies = ", ".join(f"{record['test_accuracy']:.2f}" for record in saved["history"])
    text = " ".join(sections()["resnet20"].split())
    assert f"Gated accuracy after epochs 1–{len(saved['history'])}: {accuracies} %" in text
    first, last = saved["history"][0]["mac_reduction"], saved["history"][-1]["mac_reduction"]
    assert f"drifted from {first:.2f}× to {last:.2f}×" in text
    seconds = [record["seconds"] for record in saved["history"]]
    assert f"a gated epoch with its teacher {min(seconds):.0f}–{max(seconds):.0f} s" in text
