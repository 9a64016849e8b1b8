"""The numbers the README quotes are what the code gives: its command examples re-run and
compared line by line, and the spread study's table against the study's file."""

import csv
import re
import shlex
import statistics
import pytest
from doctext import README, ROOT, flat, section

from accelsim.cli import main


def examples() -> list[tuple[list[str], list[str]]]:
    """Each ```text block of the README that shows ``$ accelsim`` commands: the commands and the
    lines they print."""
    found = []
    for block in re.findall(r"```text\n(.*?)```", README, flags=re.S):
        lines = block.rstrip("\n").split("\n")
        if not lines[0].startswith("$ accelsim"):
            continue
        commands = [shlex.split(line[2:])[1:] for line in lines if line.startswith("$ ")]
        found.append((commands, [line for line in lines if not line.startswith("$ ")]))
    return found


EXAMPLES = examples()


def test_the_readme_has_its_examples():
    assert len(EXAMPLES) == 2


@pytest.mark.heavy
@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_a_readme_example_prints_what_the_readme_shows(index, tmp_path, monkeypatch, capsys):
    commands, shown = EXAMPLES[index]
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert main(argv) == 0
    printed = capsys.readouterr().out.rstrip("\n").split("\n")
    printed = [line for line in printed if not line.startswith("wrote r18.npz")]  # trace synth's line
    assert [line.rstrip() for line in printed] == [line.rstrip() for line in shown]


def spread_rows() -> list[dict]:
    with (ROOT / "notebooks" / "cgnet_spread.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_the_readme_spread_table_is_the_study_s():
    """Each row of the README's spread table (2.8× fewer MACs, 512 KiB, 32 B/cycle): median
    [min–max] speedup and median energy over the seeds, both port choices, and the area."""
    rows = [row for row in spread_rows() if row["gates"] == "synthetic" and float(row["reduction"]) == 2.8
            and row["memory"].startswith("512")]
    table = section(README, "### Every cost charged", "What the spread says")
    checked = 0
    for line in table.splitlines():
        match = re.match(r"\| (one array, best scheduler|P = (\d+), (?:slices of )?(\d+) × (\d+)) \|", line)
        if not match:
            continue
        if match.group(2):
            design = f"P = {match.group(2)}, {match.group(3)}x{match.group(4)} slices"
        else:
            design = "one array"
        cells = [cell.strip().replace("*", "") for cell in line.strip("|").split("|")]

        def values(ports, column):
            return [float(row[column]) for row in rows if row["design"] == design and row["ports"] == ports]

        speed = values("demand", "speedup_vs_one_array")
        assert cells[1] == (f"{statistics.median(speed):.2f}× [{min(speed):.2f}–{max(speed):.2f}]"), design
        energy = values("demand", "energy_vs_one_array")
        assert cells[2] == f"{statistics.median(energy):.2f} [{min(energy):.2f}–{max(energy):.2f}]", design
        if design != "one array":
            assert cells[3] == f"{statistics.median(values('128-bit', 'energy_vs_one_array')):.2f}", design
            assert cells[4] == f"{statistics.median(values('demand', 'area_vs_one_array')):.2f}×", design
        checked += 1
    assert checked == 8


@pytest.mark.heavy
def test_the_default_run_s_energy_as_the_docs_quote_it(tmp_path):
    """The default ``accelsim run``: every scheduler at dense's speed, the energy the one-pass
    path saves (README's quickstart, traces/README.md)."""
    assert main(["run", "--quiet", "--out", str(tmp_path / "o")]) == 0
    import pandas as pd

    summary = pd.read_csv(tmp_path / "o" / "summary.csv").set_index("scheduler")
    assert (summary["speedup_vs_dense"] == 1.0).all()
    dense, gated = summary.loc["dense", "energy_per_image_uj"], summary.loc["pixel-skip", "energy_per_image_uj"]
    saving = 1 - gated / dense
    traces = flat((ROOT / "traces" / "README.md").read_text())
    assert f"with {saving:.0%} less energy ({gated:.2f} µJ against {dense:.2f} µJ per image)".replace("%", " %") in traces
    assert f"saves {saving:.0%} of the energy".replace("%", " %") in flat(README)
    gated = summary.loc["pixel-skip"]
    assert (f"beside the MAC reduction the gates promise ({gated['flop_reduction']:.2f}×) and the best any fold-based "
            f"schedule could reach on this array (`bound`, {gated['granularity_bound']:.2f}×)") in flat(README)


@pytest.mark.heavy
def test_the_worked_example_with_a_large_ofmap_sram(tmp_path, monkeypatch):
    """The README's aside on the worked example: task-queue and pixel-skip with a 4 MiB ofmap SRAM."""
    monkeypatch.chdir(tmp_path)
    assert main(["trace", "synth", "--network", "resnet18", "--images", "8", "--target-reduction", "2.8",
                 "--seed", "0", "--out", "r18.npz"]) == 0
    assert main(["run", "r18.npz", "--array", "16x16", "--dataflow", "os", "--calibration", "0:4", "--images", "4:8",
                 "--ofmap-kb", "4096", "--scheduler", "pixel-skip,task-queue", "--quiet", "--out", "o"]) == 0
    import pandas as pd

    speedup = pd.read_csv(tmp_path / "o" / "summary.csv").set_index("scheduler")["speedup_vs_dense"]
    assert (f"({speedup['task-queue']:.2f}× with `--ofmap-kb 4096`, where pixel-skip reaches "
            f"{speedup['pixel-skip']:.2f}×)") in flat(README)


@pytest.mark.heavy
def test_the_gallery_s_small_array_figures(tmp_path):
    """The gallery's sweep: the skipping schedulers on a 4×4 OS array, images 16–47 (ifmap SRAM
    16–256 KiB), and the MAC reduction of those images."""
    import accelsim

    network = accelsim.get_network("resnet20-fmnist")
    speedups, reductions = [], set()
    with accelsim.open_trace(ROOT / "traces" / "resnet20-fmnist.npz") as trace:
        for kib in (16.0, 64.0, 256.0):
            config = accelsim.DEFAULT_CONFIG.replace(array_rows=4, array_cols=4, ifmap_sram_kib=kib)
            summary = accelsim.run(network, config, ["tile-skip", "pixel-skip", "balanced", "balanced-oracle",
                                                     "task-queue"], trace, images=slice(16, 48),
                                   calibration=slice(0, 16)).summary
            skipping = summary[summary["scheduler"] != "dense"]
            speedups += list(skipping["speedup_vs_dense"])
            reductions |= set(skipping["flop_reduction"].round(2))
    text = flat(README)
    assert f"(up to {max(speedups):.2f}× on 4×4 OS)" in text
    assert len(reductions) == 1 and f"the dashed line is the {reductions.pop():.2f}× MAC reduction" in text


@pytest.mark.heavy
def test_the_4x4_ws_figures_the_docs_quote(tmp_path):
    """traces/README.md and docs/schedulers.md: the shipped trace on a 4×4 WS array, calibrated
    on images 0–15 and run on 16–255."""
    assert main(["run", str(ROOT / "traces" / "resnet20-fmnist.npz"),
                 "--array", "4x4", "--dataflow", "ws", "--calibration", "0:16", "--images", "16:256",
                 "--scheduler", "pixel-skip,balanced", "--quiet", "--out", str(tmp_path / "o")]) == 0
    import pandas as pd

    speedup = pd.read_csv(tmp_path / "o" / "summary.csv").set_index("scheduler")["speedup_vs_dense"]
    pixel, balanced = f"{speedup['pixel-skip']:.2f}×", f"{speedup['balanced']:.2f}×"
    traces = flat((ROOT / "traces" / "README.md").read_text())
    schedulers = flat((ROOT / "docs" / "schedulers.md").read_text())
    assert f"pixel-skip reaches {pixel} and balanced {balanced}" in traces
    assert f"(they gain {pixel} and {balanced})" in schedulers


def notebook_output(name: str, marker: str) -> str:
    """The text a cell of an executed notebook printed or showed; the cell is the one whose
    source contains ``marker``."""
    import json

    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    cell = next(cell for cell in cells if cell["cell_type"] == "code" and marker in "".join(cell["source"]))
    return "".join("".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
                   for output in cell["outputs"])


def test_the_readme_real_gates_table_is_the_notebook_s():
    """README's real-against-synthetic ResNet-18 table: each cell as the executed
    notebooks/cgnet_headline.ipynb shows it (the task-queue rows; the one array's best scheduler)."""
    shown = notebook_output("cgnet_headline", "side_by_side = real_vs_synthetic.pivot_table")
    table: dict[tuple[str, str], list[list[str]]] = {}
    memory = design = ""
    for line in shown.splitlines():
        match = re.match(r"(\d+ KiB, \d+ B/cycle)?\s+(one array|P = 32|P = 64, 16-row slices)?\s+"
                         r"([a-z-]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s", line + " ")
        if not match:
            continue
        memory, design = match.group(1) or memory, match.group(2) or design
        table.setdefault((memory, design), []).append([match.group(n) for n in (4, 5, 6)])
    real_gates = section(README, "### Real gates at ResNet-18's widths", "## Gallery")
    checked = 0
    for line in real_gates.splitlines():
        match = re.match(r"\| (one array, best scheduler|P = 32|P = 64, 16-row slices) \| (.+?) \|", line)
        if not match:
            continue
        cells = [cell.strip().replace("*", "").rstrip("×") for cell in line.strip().strip("|").split("|")][2:]
        rows = table[(match.group(2), match.group(1).split(",")[0] if match.group(1).startswith("one") else match.group(1))]
        expected = [max((row[column] for row in rows), key=float) for column in range(3)] if match.group(1).startswith("one") else rows[0]
        assert cells == [f"{float(value):.2f}" for value in expected], line
        checked += 1
    assert checked == 5
    best = notebook_output("cgnet_headline", "best = {label: real_vs_synthetic")
    lines = dict(line.split(": ", 1) for line in best.splitlines() if ": " in line)
    low, fitted_range, default_range = re.search(r"fitted ([\d.]+)-([\d.]+)x, default knobs ([\d.]+)-([\d.]+)x",
                                                 lines["synthetic against real, over every scheduler and design"]).group(1, 2, 4)
    text = flat(real_gates)
    assert 0.99 <= float(low) <= float(fitted_range) <= 1.01  # "within 1 %"
    assert f"the generator's default knobs overstate the sliced designs by up to {float(default_range) - 1:.0%}" \
        .replace("%", " %") in text
    realized = re.search(r"(\d+)% of the MAC reduction", lines["real"]).group(1)
    assert f"the sliced array reaches {realized} % of the MAC reduction" in text
    assert "The fitted synthetic trace gives the real trace's speedup within 1 % on every scheduler and design" in text
