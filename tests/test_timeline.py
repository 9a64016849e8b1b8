"""The timeline: start cycles in layers.csv, and `accelsim run --timeline` as Chrome trace events."""

import json
from collections import defaultdict

import pandas as pd
import pytest

from accelsim.cli import DEFAULT_TRACE, main
from accelsim.timeline import TRACKS, start_cycles

GATED = [str(DEFAULT_TRACE), "--images", "0:2", "--calibration", "2:4", "--scheduler", "pixel-skip,clock-gate"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    assert main(["run", *GATED, "--array", "16x16", "--out", str(folder / "out"),
                 "--timeline", str(folder / "timeline.json"), "--quiet"]) == 0
    return (pd.read_csv(folder / "out" / "layers.csv"), json.loads((folder / "timeline.json").read_text()))


def test_layers_start_where_the_previous_one_ends(run):
    layers, _ = run
    for _, group in layers.groupby(["scheduler", "image"], sort=False):
        starts, totals = group["start_cycle"].to_numpy(), group["cycles_total"].to_numpy()
        assert starts[0] == 0 and (starts[1:] == (starts + totals)[:-1]).all()
    assert (start_cycles(layers.drop(columns="start_cycle")) == layers["start_cycle"]).all()


def test_timeline_is_a_trace_event_document(run):
    layers, document = run
    events = document["traceEvents"]
    complete = [event for event in events if event["ph"] == "X"]
    assert complete and all(event["ph"] in ("X", "M") for event in events)
    for event in complete:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= set(event)
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int) and event["dur"] >= 0
    for event in events:
        if event["ph"] == "M":
            assert {"name", "pid", "tid", "args"} <= set(event)
    names = {(event["pid"], event["tid"]): event["args"]["name"] for event in events if event["name"] == "thread_name"}
    processes = {event["pid"]: event["args"]["name"] for event in events if event["name"] == "process_name"}
    assert sorted(processes.values()) == ["scheduler clock-gate", "scheduler dense", "scheduler pixel-skip"]
    assert {(event["pid"], event["tid"]) for event in complete} <= set(names)
    assert {name.split(": ")[1] for name in names.values()} == set(TRACKS)
    # per track: no two events overlap
    tracks = defaultdict(list)
    for event in complete:
        tracks[event["pid"], event["tid"]].append((event["ts"], event["ts"] + event["dur"]))
    for spans in tracks.values():
        spans.sort()
        assert all(later[0] >= earlier[1] - 1e-9 for earlier, later in zip(spans, spans[1:]))
    # each image of each scheduler ends at its latency
    clock = document["otherData"]["clock_mhz"]
    latency = layers.groupby(["scheduler", "image"])["cycles_total"].sum() / clock
    ends = defaultdict(float)
    for event in complete:
        scheduler = processes[event["pid"]].removeprefix("scheduler ")
        image = int(names[event["pid"], event["tid"]].split(":")[0].removeprefix("image "))
        ends[scheduler, image] = max(ends[scheduler, image], event["ts"] + event["dur"])
    assert set(ends) == set(latency.index)
    for key, end in ends.items():
        assert end == pytest.approx(latency[key], rel=1e-12)


def test_one_array_event_per_layer_image_and_scheduler_and_dram_inside_its_layer(run):
    layers, document = run
    complete = [event for event in document["traceEvents"] if event["ph"] == "X"]
    array = [event for event in complete if event["cat"] == "array"]
    assert len(array) == len(layers)
    assert sorted(event["args"]["cycles_compute"] for event in array) == sorted(layers["cycles_compute"])
    stalls = sum(event["args"]["cycles_stall"] for event in complete if event["cat"] == "stall")
    assert stalls == layers["cycles_stall"].sum() > 0
    clock = document["otherData"]["clock_mhz"]
    spans = {(event["pid"], event["tid"] // len(TRACKS), event["name"]): event for event in array}
    dram = [event for event in complete if event["cat"] == "dram"]
    assert dram
    for event in dram:
        layer = spans[event["pid"], event["tid"] // len(TRACKS), event["name"].removesuffix(" DRAM")]
        total = layer["args"]["cycles_compute"] + layer["args"]["cycles_stall"]
        moved = event["args"]["dram_read_bytes"] + event["args"]["dram_write_bytes"]
        assert event["ts"] == layer["ts"] and event["dur"] * clock <= total * (1 + 1e-12)
        assert event["args"]["busy_cycles"] == pytest.approx(min(moved / 16.0, total))  # default bandwidth


def test_clock_and_ideal_memory(tmp_path):
    (tmp_path / "hw.toml").write_text("clock_mhz = 500.0\ndram_bandwidth_bytes_per_cycle = inf\n")
    assert main(["run", "--network", "resnet20", "--config", str(tmp_path / "hw.toml"), "--out", str(tmp_path / "out"),
                 "--timeline", str(tmp_path / "t.json"), "--quiet"]) == 0
    layers = pd.read_csv(tmp_path / "out" / "layers.csv")
    complete = [event for event in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if event["ph"] == "X"]
    assert {event["cat"] for event in complete} == {"array"}  # ideal memory: no DRAM time, no stalls
    last = max(complete, key=lambda event: event["ts"])
    assert last["ts"] + last["dur"] == pytest.approx(layers["cycles_total"].sum() / 500.0)


def test_timeline_alone_and_nothing_on_failure(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    assert main(["run", "--network", "resnet20", "--timeline", str(tmp_path / "sub" / "t.json"), "--quiet"]) == 0
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["t.json"]
    assert main(["run", *GATED[:1], "--images", "0:999999", "--timeline", str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.startswith("accelsim: error: ")
    assert not (tmp_path / "bad.json").exists()
