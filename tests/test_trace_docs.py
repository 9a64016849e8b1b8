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
    if "--fit" in argv and "resnet18" in argv[argv.index("--fit") + 1]:
        fitted_resnet18_as_described(tmp_path / argv[argv.index("--out") + 1])


def fitted_resnet18_as_described(path: Path) -> None:
    """The prose on the trace fitted to the ResNet-18's: Moran's I by stage, the per-channel spread."""
    from accelsim import open_trace
    from accelsim.trace.stats import layer_statistics

    with open_trace(path) as trace:
        table = layer_statistics(trace).assign(stage=lambda t: t["layer"].str.split(".").str[0])
    moran = ", ".join(f"{value:.2f}" for value in table.groupby("stage")["morans_i"].mean())
    text = " ".join(sections()["resnet18"].split())
    assert f"the fall of Moran's I with depth ({moran} by stage)" in text
    spread = {f"{value:.2f}" for value in table["channel_rate_std"]}
    assert len(spread) == 1 and f"its per-channel spread is the same in every layer ({spread.pop()})" in text


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


def test_the_resnet18_training_record_is_the_stages_own():
    """docs/workloads.md's table of the ResNet-18 stages is their ``history.json`` records
    (docs/training/resnet18/), and the gains it quotes follow from them."""
    import json

    records = {path.stem: json.loads(path.read_text())
               for path in sorted((ROOT / "docs" / "training" / "resnet18").glob("*.json"))}
    text = (ROOT / "docs" / "workloads.md").read_text()
    header = "| stage | training images | test accuracy by epoch | MAC reduction | minutes |"
    assert header in text, "docs/workloads.md: the ResNet-18 stages' table is gone"
    table = text.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    rows = {line.split("|")[1].strip(): line for line in table}
    assert set(rows) == set(records), "docs/workloads.md's stage table against docs/training/resnet18/"
    for stage, record in records.items():
        accuracies = ", ".join(f"{epoch['test_accuracy']:.2f}" for epoch in record["history"])
        assert rows[stage] == (f"| {stage} | {record['recipe']['train_images']:,} | {accuracies} % | "
                               f"{record['mac_reduction']:.2f}× | {record['train_seconds'] / 60:.1f} |")
    accuracy = {stage: record["test_accuracy"] for stage, record in records.items()}
    gated = [accuracy[f"gated-t0.8{s}"] - accuracy[f"gated-t0.8{b}"] for b, s in (("", "-polish"), ("-polish", "-polish2"))]
    twin = [accuracy[f"dense-twin{s}"] - accuracy[f"dense-twin{b}"] for b, s in (("", "-polish"), ("-polish", "-polish2"))]
    flat = " ".join(text.split())
    gap = {stage: accuracy[f"dense-twin{stage}"] - accuracy[f"gated-t0.8{stage}"] for stage in ("", "-polish", "-polish2")}
    assert f"gives a gated model {gap['']:.2f} points below its twin after the fine-tune" in flat
    assert (f"the gated model gains {gated[0]:.2f} and {gated[1]:.2f} points, the twin {twin[0]:.2f} and "
            f"{twin[1]:.2f}, and the gap goes from {gap['']:.2f} to {gap['-polish']:.2f} and then "
            f"{gap['-polish2']:.2f} points") in flat
    assert records["gated-t0.8-polish2"]["recipe"]["teacher"].endswith("dense-twin-polish/model.pt")
    pilot, p4 = records["pilot-p8-t0.5"], records["gated-t0.8"]["history"][0]
    assert len(pilot["history"]) == 1
    command = re.search(r"`pilot-p8-t0.5` \(`python -m workloads.train ([^`]+)`", flat)
    assert command, "docs/workloads.md: the p = 8 pilot's command is gone"
    options = dict(zip(command.group(1).split()[::2], command.group(1).split()[1::2]))
    for option, value in options.items():
        recorded = pilot["recipe"][{"--model": "model_name"}.get(option, option[2:].replace("-", "_"))]
        assert str(recorded) == value or (isinstance(recorded, float) and recorded == float(value)), option
    assert (f"stood at {pilot['test_accuracy']:.2f} % with {pilot['mac_reduction']:.2f}× fewer MACs, where the p = 4 "
            f"model stood at {p4['test_accuracy']:.2f} % after the same epoch") in flat


def test_the_shipped_resnet18_s_gap_as_the_docs_quote_it():
    pytest.importorskip("torch")
    from workloads.compact import read_checkpoint
    from workloads.recipe import PLANS

    saved = read_checkpoint(PLANS["resnet18"].checkpoint)
    twin = saved["dense_twin_accuracy"]
    flat = " ".join((ROOT / "docs" / "workloads.md").read_text().split())
    assert (f"The shipped model is {twin - saved['test_accuracy']:.2f} points below its twin "
            f"({saved['test_accuracy']:.2f} % against {twin:.2f} %; the float model "
            f"{twin - saved['float_test_accuracy']:.2f} below)") in flat
    assert f"its MAC reduction, {saved['mac_reduction']:.2f}×, is inside the band" in flat
    assert f"The 8-bit weights cost {saved['float_test_accuracy'] - saved['test_accuracy']:.2f} points" in flat
    assert saved["threads"] == 1
    assert "the gated stages ran on 1 thread each (`--threads 1`, as the checkpoint records)" \
        in " ".join(sections()["resnet18"].split())
    resnet20 = read_checkpoint(PLANS["resnet20"].checkpoint)
    assert f"brought it to {resnet20['dense_twin_accuracy'] - resnet20['test_accuracy']:.2f} points" in flat
    gap, accuracy = twin - saved["test_accuracy"], saved["test_accuracy"]
    assert (f"the shipped model is {gap:.2f} points below its dense twin ({accuracy:.2f} % against {twin:.2f} %; "
            f"the goal was at most 1.5; the float model is {twin - saved['float_test_accuracy']:.2f} below)") \
        in " ".join(sections()["resnet18"].split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"{saved['mac_reduction']:.2f}× fewer MACs, {accuracy:.2f} % against its dense twin's {twin:.2f} %, "
            f"{gap:.2f} points") in readme


def test_the_readme_quotes_the_shipped_resnet20_s_accuracy():
    pytest.importorskip("torch")
    from workloads.compact import read_checkpoint
    from workloads.recipe import PLANS

    saved = read_checkpoint(PLANS["resnet20"].checkpoint)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"The shipped model scores {saved['test_accuracy']:.2f} % on the Fashion-MNIST test set against "
            f"{saved['dense_twin_accuracy']:.2f} % for its dense twin trained with the same budget, with "
            f"{saved['mac_reduction']:.2f}× fewer MACs") in readme


def test_the_variants_mac_caps_docs_workloads_quotes():
    """Every gate off leaves the base path, 1/p of a gated conv's MACs: the caps of the two
    gated ResNet-20 variants at p = 4 on 28×28 inputs."""
    from accelsim import get_network

    layers = get_network("resnet20-fmnist").layers
    total = sum(layer.macs for layer in layers)

    def cap(gated) -> float:
        macs = sum(layer.macs for layer in layers if gated(layer.name))
        return total / (total - macs + macs / 4)

    both = cap(lambda name: name.startswith("layer") and name.endswith(("conv1", "conv2")))
    first = cap(lambda name: name.startswith("layer") and name.endswith("conv1"))
    text = " ".join((ROOT / "docs" / "workloads.md").read_text().split())
    assert f"at p = 4 the MAC reduction is at most {both:.2f}× on 28×28 inputs, every gate off" in text
    assert f"only the first conv of each block gated: 9 layers (cap {first:.2f}×)" in text
