"""Failures of sweep, plot and run: nothing stale, nothing left behind: resuming a damaged sweep,
a failing executor, a held lock, killed workers, the shipped trace in an install. Each fixed bad
command line (one line and exit 2) is a row of tests/test_bad_input.py."""

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd
import pytest

from accelsim import DEFAULT_CONFIG, get_network
from accelsim.cli import main
from accelsim.sweep import MAX_POINTS, SweepError, grid, network_digest, point_key, run_sweep
from accelsim.trace import as_trace_layer, gateable_layers, synthesize
from accelsim.workload import load_topology

ROOT = Path(__file__).resolve().parent.parent
NET = get_network("resnet20")
SWEEP = ["--array", "4x4,8x8", "--scheduler", "pixel-skip", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(NET)]
    return synthesize(tmp_path_factory.mktemp("failures") / "t.npz", NET, layers, 2,
                      {layer.name: 0.3 for layer in layers}, seed=3)


@pytest.fixture(scope="module")
def swept(trace, tmp_path_factory):
    """A finished two-point sweep; tests copy it before damaging it."""
    out = tmp_path_factory.mktemp("swept") / "out"
    assert main(["sweep", str(trace), *SWEEP, "--out", str(out)]) == 0
    return out


def one_line_error(capsys, *fragments):
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("accelsim: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


# -- a sweep that fails ---------------------------------------------------------------------


class FailingExecutor(Executor):
    def submit(self, fn, /, *args, **kwargs):
        raise SweepError("the cluster is gone")


def test_sweep_that_fails_before_any_point_leaves_no_folder(trace, tmp_path):
    out = tmp_path / "a" / "b"
    configs = grid(DEFAULT_CONFIG, {"array_rows": [4, 8]})
    with pytest.raises(SweepError, match="the cluster is gone"):
        run_sweep(NET, trace, configs, out, ["pixel-skip"], executor=FailingExecutor())
    assert list(tmp_path.iterdir()) == []


# -- limits ---------------------------------------------------------------------------------


def test_grid_library_limits():
    """A grid at the limit is made (a grid over it is refused: tests/test_bad_input.py)."""
    assert len(grid(DEFAULT_CONFIG, {"ifmap_sram_kib": range(1, 11)}, max_points=10)) == 10
    assert MAX_POINTS == 100_000


# -- resume ---------------------------------------------------------------------------------


def damage_empty(path):
    path.write_bytes(b"")


def damage_cut_mid_row(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def damage_binary(path):
    path.write_bytes(bytes(range(256)) * 4)


def damage_cut_at_a_row(path):
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:len(lines) // 2]))


@pytest.mark.parametrize("damage", [damage_empty, damage_cut_mid_row, damage_binary, damage_cut_at_a_row])
@pytest.mark.parametrize("which", [".csv", ".summary.csv"])
def test_resume_recomputes_a_damaged_point(trace, swept, tmp_path, damage, which):
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    victim = sorted((out / "points").glob("*.done"))[0]
    damage(victim.with_name(victim.stem + which))
    assert main(["sweep", str(trace), *SWEEP, "--out", str(out), "--resume"]) == 0
    for name in ("results.csv", "summary.csv"):
        assert (out / name).read_bytes() == (swept / name).read_bytes()


def test_resume_recomputes_a_point_without_its_record(trace, swept, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    for record in (out / "points").glob("*.done"):
        record.unlink()
    (out / "points" / "stale.csv").write_text("not a point\n")
    assert main(["sweep", str(trace), *SWEEP, "--out", str(out), "--resume"]) == 0
    assert (out / "results.csv").read_bytes() == (swept / "results.csv").read_bytes()
    assert len(list((out / "points").glob("*.done"))) == 2


TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,\nconv1, 8, 8, 3, 3, 4, 8, 1,\nconv2, 6, 6, 3, 3, 8, {filters}, 1,\n")


def test_resume_with_another_topology_recomputes(tmp_path):
    topology = tmp_path / "net.csv"
    topology.write_text(TOPOLOGY.format(filters=8))
    network = load_topology(topology)
    trace = synthesize(tmp_path / "t.npz", network, [as_trace_layer(network.layer("conv1"), 4)], 2,
                       {"conv1": 0.5}, seed=1)
    args = ["sweep", str(trace), "--topology", str(topology), "--array", "4x4", "--scheduler", "pixel-skip",
            "--workers", "1", "--quiet", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    before = pd.read_csv(tmp_path / "out" / "results.csv")
    topology.write_text(TOPOLOGY.format(filters=32))
    assert main([*args, "--resume"]) == 0
    after = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(after.loc[after["layer"] == "conv2", "N"]) == {32}
    assert set(before.loc[before["layer"] == "conv2", "N"]) == {8}
    assert after["point"].iloc[0] != before["point"].iloc[0]


def test_point_key_depends_on_everything_the_result_does(trace):
    images, calibration = range(0, 2), range(0, 2)
    base = point_key(DEFAULT_CONFIG, "t", ("dense",), images, calibration, network_digest(NET))
    changed = [
        point_key(DEFAULT_CONFIG.replace(clock_mhz=500.0), "t", ("dense",), images, calibration, network_digest(NET)),
        point_key(DEFAULT_CONFIG, "u", ("dense",), images, calibration, network_digest(NET)),
        point_key(DEFAULT_CONFIG, "t", ("dense", "pixel-skip"), images, calibration, network_digest(NET)),
        point_key(DEFAULT_CONFIG, "t", ("dense",), range(0, 1), calibration, network_digest(NET)),
        point_key(DEFAULT_CONFIG, "t", ("dense",), images, range(0, 1), network_digest(NET)),
        point_key(DEFAULT_CONFIG, "t", ("dense",), images, calibration, network_digest(get_network("resnet18"))),
    ]
    assert len({base, *changed}) == 7
    assert base.startswith("p") and not base[1:].isdigit()


def test_resume_with_another_calibration_recomputes(trace, swept, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(swept, out)
    assert main(["sweep", str(trace), *SWEEP, "--calibration", "1:2", "--out", str(out), "--resume"]) == 0
    assert len(list((out / "points").glob("*.done"))) == 4
    assert set(pd.read_csv(out / "summary.csv")["point"]).isdisjoint(pd.read_csv(swept / "summary.csv")["point"])


# -- concurrency and kills ------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_a_second_sweep_into_the_same_folder_is_refused(trace, tmp_path, capsys):
    import fcntl
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a") as held:  # what a running sweep holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["sweep", str(trace), *SWEEP, "--out", str(out)]) == 2
    one_line_error(capsys, "another sweep is writing to this folder")
    assert not (out / "points").exists()
    assert main(["sweep", str(trace), *SWEEP, "--out", str(out)]) == 0  # released with the file


def descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_sweep(trace, tmp_path):
    args = ["sweep", str(trace), "--array", "4x4,8x8,16x16,32x32", "--bandwidth", "4,16,64",
            "--scheduler", "clock-gate,pixel-skip", "--workers", "2", "--quiet", "--out", str(tmp_path / "o")]
    process = subprocess.Popen([sys.executable, "-m", "accelsim.cli", *args], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 2 and process.poll() is None:
            workers = descendants(process.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, "the sweep should have started its workers"
        process.send_signal(signal.SIGKILL)  # the parent only, not its group
        process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers), "workers outlived the sweep"
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- images ---------------------------------------------------------------------------------


def test_a_short_trace_still_calibrates_on_all_its_images(trace, tmp_path):
    assert main(["run", str(trace), "--scheduler", "balanced", "--quiet", "--out", str(tmp_path)]) == 0
    assert main(["run", str(trace), "--images", "0:2", "--quiet"]) == 0


# -- plot -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_results(trace, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "out"
    config = folder.parent / "slow.toml"
    config.write_text("clock_mhz = 500.0\n")
    assert main(["run", str(trace), "--config", str(config), "--array", "16x16", "--out", str(folder), "--quiet"]) == 0
    return folder


def test_plot_reads_the_clock_of_the_results(run_results, tmp_path):
    summary = pd.read_csv(run_results / "summary.csv")
    assert main(["plot", str(run_results), "--out", str(tmp_path), "--format", "svg"]) == 0
    svg = (tmp_path / "latency.svg").read_text()
    assert "at 500 MHz" in svg and "at 1000 MHz" not in svg
    from accelsim.plots import latency_figure, results_clock_mhz
    layers = pd.read_csv(run_results / "layers.csv")
    assert results_clock_mhz(layers, summary) == pytest.approx(500.0)
    figure = latency_figure(layers)
    medians = [float(text.get_text()) for text in figure.axes[0].texts]  # each scheduler's median, labelled
    assert medians[0] == pytest.approx(summary["latency_p50_ms"].iloc[0], rel=5e-3)
    # an explicit --clock-mhz still rescales the axis
    assert main(["plot", str(run_results), "--out", str(tmp_path / "fast"), "--format", "svg",
                 "--clock-mhz", "1000"]) == 0
    assert "at 1000 MHz" in (tmp_path / "fast" / "latency.svg").read_text()


# -- the shipped trace in an install --------------------------------------------------------


def test_every_package_is_listed_for_the_build():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for top in ("accelsim", "workloads") for init in (ROOT / top).rglob("__init__.py")}
    assert found <= listed and listed - found == {"accelsim._traces"}


def test_a_plain_install_finds_the_shipped_trace(tmp_path):
    """`pip install .` (not editable) ships traces/resnet20-fmnist.npz inside the package."""
    source = tmp_path / "source"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "pyproject.toml",
                            "README.md", "accelsim", "workloads", "traces"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", ".", "--no-deps", "--no-build-isolation", "--quiet",
                    "--target", str(target)], cwd=source, check=True, capture_output=True)
    shipped = target / "accelsim" / "_traces" / "resnet20-fmnist.npz"
    assert shipped.read_bytes() == (ROOT / "traces" / "resnet20-fmnist.npz").read_bytes()
    assert (target / "accelsim" / "py.typed").is_file()  # the type hints are shipped (PEP 561)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run([sys.executable, "-c", "import accelsim.cli as c; print(c.__file__); print(c.DEFAULT_TRACE)"],
                           cwd=elsewhere, env=environment, capture_output=True, text=True, check=True)
    assert probe.stdout.split() == [str(target / "accelsim" / "cli" / "__init__.py"), str(shipped)]
    result = subprocess.run([sys.executable, "-m", "accelsim.cli", "run", "--images", "0:1", "--scheduler",
                             "pixel-skip"], cwd=elsewhere, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"with gates from {shipped} (1 images)" in result.stdout
    shipped.unlink()  # without it: one line, never a silent dense run
    result = subprocess.run([sys.executable, "-m", "accelsim.cli", "run"], cwd=elsewhere, env=environment,
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"accelsim: error: the shipped trace {shipped} is not installed; give a TRACE, or --network NAME "
        "for a dense run"]
