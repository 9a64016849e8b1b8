"""Trace statistics against values worked out by hand."""

import numpy as np
import pytest

from accelsim import get_network
from accelsim.trace import TraceLayer, mask_statistics, network_flop_reduction

LEFT = np.array([[1, 1, 0, 0]] * 4, dtype=bool)  # left half on
TOP = LEFT.T.copy()  # top half on


def layer(channels=4, groups=2, size=4):
    return TraceLayer("x", channels, channels, size, size, 3, 3, 1, 1, 1, size, size, groups, 1 / groups)


def test_statistics_by_hand():
    image0 = np.stack([LEFT, LEFT, TOP, ~LEFT])  # group 0: ch 0, 1; group 1: ch 2, 3
    image1 = np.zeros_like(image0)
    stats = mask_statistics(layer(), [np.stack([image0, image1])])
    assert stats["on_rate"] == pytest.approx(0.25)  # 0.5 and 0
    assert stats["on_rate_image_std"] == pytest.approx(0.25)
    assert stats["channel_rate_std"] == pytest.approx(0.0)  # every channel 8 of 32
    # half planes on a 4x4 rook grid: I = (16/48)·(8/4) = 2/3; empty maps add nothing
    assert stats["morans_i"] == pytest.approx(2 / 3)
    # within: corr(L, L) = 1, corr(T, 1−L) = 0; across: corr(L, T) = 0 twice, corr(L, 1−L) = −1 twice
    assert stats["corr_within_groups"] == pytest.approx(0.5)
    assert stats["corr_across_groups"] == pytest.approx(-0.5)
    assert stats["no_channel_pixel_fraction"] == pytest.approx(0.5)  # image 0: none; image 1: all
    assert stats["channels_off_fraction"] == pytest.approx(0.5)
    assert stats["flop_reduction"] == pytest.approx(1 / (0.5 + 0.5 * 0.25))


def test_checkerboard_has_morans_i_minus_one():
    board = (np.indices((4, 4)).sum(axis=0) % 2).astype(bool)
    stats = mask_statistics(layer(channels=1, groups=1), [board[None, None]])
    assert stats["morans_i"] == pytest.approx(-1.0)


def test_chunks_give_the_same_statistics_as_one_pass():
    rng = np.random.default_rng(5)
    masks = rng.random((10, 4, 4, 4)) < 0.4
    whole = mask_statistics(layer(), [masks])
    chunked = mask_statistics(layer(), [masks[:3], masks[3:7], masks[7:]])
    assert chunked.pop("granular_rates") == pytest.approx(whole.pop("granular_rates"))
    assert chunked.pop("base_layout") == whole.pop("base_layout")
    assert chunked == pytest.approx(whole)


def test_granular_rates_by_hand():
    """Two images, one group of 4 channels, 2 pixels. Pixel 0: channel 0 on; pixel 1: channels 1
    and 2 on. Sets of 1 run the 3 outputs that are on; sets of 2 ({0, 1}, {2, 3}) run pixel 0
    of set 1 (2 outputs), pixel 1 of both sets (4): 6; the set of 4 runs both pixels: 8."""
    masks = np.zeros((2, 4, 1, 2), dtype=bool)
    masks[:, 0, 0, 0] = masks[:, 1, 0, 1] = masks[:, 2, 0, 1] = True
    one_group = TraceLayer(name="g", in_channels=4, out_channels=4, in_h=1, in_w=2, kernel_h=1, kernel_w=1,
                           stride=1, padding_h=0, padding_w=0, out_h=1, out_w=2, gate_groups=1,
                           base_fraction=0.25, base_layout="shared")
    rates = mask_statistics(one_group, [masks])["granular_rates"]
    assert rates == pytest.approx({1: 3 / 8, 2: 6 / 8, 4: 8 / 8})


def test_network_reduction_counts_ungated_layers_dense():
    net = get_network("resnet20")
    gated = ["layer1.0.conv1", "layer3.2.conv2"]
    reduction = network_flop_reduction(net, {name: 0.0 for name in gated}, {name: 0.25 for name in gated})
    saved = 0.75 * sum(net.layer(name).macs for name in gated)
    assert reduction == pytest.approx(net.macs / (net.macs - saved))
