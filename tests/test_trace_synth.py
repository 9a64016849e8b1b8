"""The synthetic generator: determinism, rates, structure, the coin-flip baseline, fitting."""

import numpy as np
import pytest

from accelsim import TraceError, get_network
from accelsim.trace import (SynthKnobs, as_trace_layer, compare_statistics, fit_knobs,
                            gateable_layers, layer_statistics, network_flop_reduction, open_trace,
                            synthesize, uniform_rate_for_reduction)

NET = get_network("resnet20")
LAYERS = [as_trace_layer(layer, 4) for layer in gateable_layers(NET)]


def make(path, images=8, rate=0.3, knobs=SynthKnobs(), seed=0, layers=LAYERS):
    return synthesize(path, NET, layers, images, {layer.name: rate for layer in layers}, knobs, seed)


def read_all(path):
    with open_trace(path) as trace:
        return {name: trace.read(name) for name in trace.layer_names}


def test_deterministic_for_a_seed_and_a_prefix_of_longer_traces(tmp_path):
    first = read_all(make(tmp_path / "a.npz", images=4, layers=LAYERS[:3]))
    again = read_all(make(tmp_path / "b.npz", images=4, layers=LAYERS[:3]))
    longer = read_all(make(tmp_path / "c.npz", images=8, layers=LAYERS[:3]))
    other = read_all(make(tmp_path / "d.npz", images=4, seed=1, layers=LAYERS[:3]))
    for name, masks in first.items():
        np.testing.assert_array_equal(masks, again[name])
        np.testing.assert_array_equal(masks, longer[name][:4])
        assert not np.array_equal(masks, other[name])


def test_structured_by_default_and_coin_flips_only_on_request(tmp_path):
    with open_trace(make(tmp_path / "s.npz", images=8)) as trace:
        structured = layer_statistics(trace)
    with open_trace(make(tmp_path / "i.npz", images=8, knobs=SynthKnobs(independent=True))) as trace:
        coins = layer_statistics(trace)
    assert (structured["morans_i"] > 0.2).all()
    assert (structured["corr_within_groups"] > structured["corr_across_groups"] + 0.05).all()
    assert (structured["channel_rate_std"] > 0.1).all()
    assert coins["morans_i"].abs().max() < 0.05
    assert coins["corr_within_groups"].abs().max() < 0.05
    assert coins["on_rate"].mean() == pytest.approx(0.3, abs=0.01)


def test_rates_and_target_reduction_hold(tmp_path):
    rate = uniform_rate_for_reduction(NET, LAYERS, 2.5)
    assert network_flop_reduction(NET, {layer.name: rate for layer in LAYERS},
                                  {layer.name: 0.25 for layer in LAYERS}) == pytest.approx(2.5)
    with open_trace(make(tmp_path / "t.npz", images=16, rate=rate)) as trace:
        table = layer_statistics(trace)
    assert table["on_rate"].mean() == pytest.approx(rate, abs=0.02)
    achieved = network_flop_reduction(NET, dict(zip(table["layer"], table["on_rate"])),
                                      {layer.name: 0.25 for layer in LAYERS})
    assert achieved == pytest.approx(2.5, rel=0.03)


def test_unreachable_target_reduction_is_an_error():
    with pytest.raises(TraceError, match=r"5x is out of reach .* 1x to 3\.8"):
        uniform_rate_for_reduction(NET, LAYERS, 5)


@pytest.mark.parametrize("knobs", [dict(group_share=0.8, noise_share=0.3), dict(length_scale=-1),
                                   dict(length_scale=0.6), dict(image_std=11)])
def test_bad_knobs_are_rejected(knobs):
    with pytest.raises(TraceError, match="synthetic knob"):
        SynthKnobs(**knobs)


@pytest.mark.slow
def test_fit_recovers_the_statistics_of_a_trace(tmp_path):
    """The tolerance docs/trace-format.md states: each layer-averaged statistic within 0.05,
    the on-rate within 0.01."""
    truth = SynthKnobs(length_scale=0.3, global_share=0.1, group_share=0.5, noise_share=0.1,
                       channel_bias_std=1.2, image_std=0.5)
    rng = np.random.default_rng(1)
    rates = {layer.name: float(rng.uniform(0.1, 0.5)) for layer in LAYERS}
    real_path = synthesize(tmp_path / "real.npz", NET, LAYERS, 32, rates, truth, seed=7)
    with open_trace(real_path) as real:
        knobs, fitted_rates = fit_knobs(real)
        real_table = layer_statistics(real)
    assert list(fitted_rates.values()) == pytest.approx(list(real_table["on_rate"]))
    with open_trace(synthesize(tmp_path / "fit.npz", NET, LAYERS, 32, fitted_rates, knobs, seed=3)) as fit:
        comparison = compare_statistics(real_table, layer_statistics(fit)).set_index("statistic")
    assert abs(comparison.loc["on_rate", "difference"]) <= 0.01
    assert (comparison["difference"].drop("flop_reduction (mean of layers)").abs() <= 0.05).all()


def test_policy_all_gates_every_ungrouped_conv_and_blocks_says_so(tmp_path, capsys):
    """A network of 1×1 convolutions and a depthwise one (as MobileNet's): ``blocks`` has
    nothing to gate and names ``all``, which gates every ungrouped conv, stem and 1×1 included."""
    from accelsim.cli import main

    topology = tmp_path / "pointwise.csv"
    topology.write_text("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
                        "stem,conv,4,8,8,8,1,1,1,0,0,1\n"
                        "dw,conv,8,8,8,8,3,3,1,2,2,8\n"
                        "pw,conv,8,16,8,8,1,1,1,0,0,1\n")
    out = tmp_path / "t.npz"
    assert main(["trace", "synth", "--topology", str(topology), "--out", str(out), "--quiet"]) == 2
    assert "--gated all" in capsys.readouterr().err
    assert main(["trace", "synth", "--topology", str(topology), "--gated", "all", "--out", str(out), "--quiet"]) == 0
    from accelsim import open_trace

    with open_trace(out) as trace:
        assert [layer.name for layer in trace.layers] == ["stem", "pw"]
