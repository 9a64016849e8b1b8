"""accelsim trace info / validate / synth."""

import json

import pytest

from accelsim.cli import main
from accelsim.trace import open_trace


def test_synth_then_validate_then_info(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["trace", "synth", "--network", "resnet20", "--images", "4", "--rate", "0.2",
                 "--seed", "3", "--out", str(out)]) == 0
    assert "18 gated layers of resnet20, 4 images" in capsys.readouterr().out
    assert main(["trace", "validate", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("18 gated layers, 4 images, shapes match resnet20")
    assert main(["trace", "info", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"images", "network", "network_flop_reduction", "layers"} <= set(summary)
    assert summary["images"] == 4 and summary["network"] == "resnet20"
    assert len(summary["layers"]) == 18
    assert all({"name", "on_rate"} <= set(layer) for layer in summary["layers"])
    assert main(["trace", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layer3.2.conv2" in text and "MAC (FLOP) reduction over network resnet20" in text


def test_synth_first_conv_policy_and_target_reduction(tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert main(["trace", "synth", "--network", "resnet18", "--gated", "first", "--images", "2",
                 "--target-reduction", "1.3", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    with open_trace(out) as trace:
        assert len(trace.layers) == 8 and all(name.endswith(".conv1") for name in trace.layer_names)


def test_synth_fit_prints_both_statistics(tmp_path, capsys):
    real = tmp_path / "real.npz"
    assert main(["trace", "synth", "--network", "resnet20-fmnist", "--images", "4", "--group-share",
                 "0.6", "--out", str(real), "--quiet"]) == 0
    assert main(["trace", "synth", "--fit", str(real), "--out", str(tmp_path / "fit.npz")]) == 0
    out = capsys.readouterr().out
    assert "fitted knobs: length_scale=" in out and "morans_i" in out and "real" in out and "synthetic" in out


def test_info_against_another_network_is_a_shape_error(tmp_path, capsys):
    out = tmp_path / "s.npz"
    main(["trace", "synth", "--network", "resnet20", "--images", "1", "--out", str(out), "--quiet"])
    assert main(["trace", "info", str(out), "--network", "resnet20-fmnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "layer 'layer1.0.conv1': the trace has" in err
    assert main(["trace", "validate", str(out), "--network", "resnet20-fmnist"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--network", "resnet20", "--rate", "1.5"], "on-rate must be in [0, 1]"),
    (["--network", "resnet20", "--target-reduction", "9"], "out of reach"),
    (["--network", "resnet20", "--gated", "some"], "expected one of blocks, first"),
    (["--network", "resnet20", "--group-share", "2"], "synthetic knob group_share"),
    (["--network", "resnet20", "--images", "0"], "argument --images: expected a positive integer"),
    (["--rate", "0.2"], "give --network NAME or --topology"),
    (["--network", "resnet20", "--rate", "0.2", "--fit", "x.npz"], "not allowed with argument"),
    (["--fit", "missing.npz"], "missing.npz: no such file"),
])
def test_synth_bad_input_exits_2(tmp_path, capsys, args, message):
    out = tmp_path / "s.npz"
    assert main(["trace", "synth", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--network", "resnet20", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
    (["--fit", "x.npz", "--gated", "first"], "--gated: not allowed with --fit"),
    (["--fit", "x.npz", "--independent"], "--independent: not allowed with --fit"),
])
def test_synth_option_clashes(tmp_path, capsys, args, message):
    assert main(["trace", "synth", *args, "--out", str(tmp_path / "s.npz")]) == 2
    assert message in capsys.readouterr().err


def test_synth_out_must_be_writable(tmp_path, capsys):
    assert main(["trace", "synth", "--network", "resnet20", "--images", "1",
                 "--out", str(tmp_path / "missing" / "s.npz")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["trace", "synth", "--network", "resnet20", "--images", "1", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == []


@pytest.mark.slow
def test_fit_rate_is_exact_beyond_one_chunk(tmp_path):
    """65 images: the fitted on-rate is the trace's own, not an average of chunk averages."""
    from accelsim.trace import fit_knobs, layer_statistics

    main(["trace", "synth", "--network", "resnet20", "--images", "65", "--seed", "2", "--image-std", "1",
          "--gated", "first", "--out", str(tmp_path / "r.npz"), "--quiet"])
    with open_trace(tmp_path / "r.npz") as trace:
        _, rates = fit_knobs(trace)
        table = layer_statistics(trace)
    assert list(rates.values()) == pytest.approx(list(table["on_rate"]), abs=1e-6)
