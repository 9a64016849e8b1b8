"""A convolution lowered to the GEMM and run on the reference array equals the convolution."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.reference import simulate_gemm
from accelsim.arch import dense_gemm_cycles
from accelsim.config import HardwareConfig
from accelsim.schedule import get_scheduler
from accelsim.workload import Layer
from accelsim.workload.lowering import im2col, output_feature_map, weight_matrix
from accelsim.engine import simulate as time_plans
from tiers import examples


def direct_convolution(x, w, stride, pad, groups):
    """Textbook loops, symmetric padding ``pad`` per side."""
    cin, height, width = x.shape
    cout, per_group, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out_h = (height + 2 * pad - kh) // stride + 1
    out_w = (width + 2 * pad - kw) // stride + 1
    out = np.zeros((cout, out_h, out_w), dtype=np.int64)
    outs_per_group = cout // groups
    for o in range(cout):
        g = o // outs_per_group
        for y in range(out_h):
            for xx in range(out_w):
                for c in range(per_group):
                    for i in range(kh):
                        for j in range(kw):
                            out[o, y, xx] += (xp[g * per_group + c, y * stride + i, xx * stride + j]
                                              * w[o, c, i, j])
    return out


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kernel = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 1))
    size = draw(st.integers(max(1, kernel - 2 * pad), 6))
    stride = draw(st.integers(1, 2))
    return cin, cout, size, kernel, stride, pad, groups, draw(st.sampled_from(["os", "ws", "is"]))


@settings(max_examples=examples(40), deadline=None)
@given(case=conv_cases())
def test_conv_on_reference_array_equals_direct_convolution(case):
    cin, cout, size, kernel, stride, pad, groups, dataflow = case
    layer = Layer.conv("c", cin, cout, size, kernel, stride, pad, groups)
    rng = np.random.default_rng(0)
    x = rng.integers(-8, 8, size=(cin, size, size))
    w = rng.integers(-8, 8, size=(cout, cin // groups, kernel, kernel))
    rows, cols = 3, 2
    runs = [simulate_gemm(im2col(layer, x, g), weight_matrix(layer, w, g), dataflow, rows, cols)
            for g in range(groups)]
    np.testing.assert_array_equal(output_feature_map(layer, [r.output for r in runs]),
                                  direct_convolution(x, w, stride, pad, groups))
    # a grouped conv is `groups` GEMMs, each timed by the closed form; the plan agrees
    m, n_group, k = layer.group_gemm
    assert sum(r.cycles for r in runs) == groups * dense_gemm_cycles(dataflow, rows, cols, m, n_group, k)
    plan = get_scheduler("dense", timer=time_plans).plan(layer, HardwareConfig(array_rows=rows, array_cols=cols,
                                                             dataflow=dataflow, timing="physical"))
    assert plan.cycles == sum(r.cycles for r in runs)
    assert plan.macs == layer.macs == sum(r.useful_macs for r in runs)


def test_pytorch_padding_split():
    """im2col pads like PyTorch: with padding 1 the first output pixel sees a zero row on top."""
    layer = Layer.conv("c", 1, 1, 3, 3, stride=1, padding=1)
    x = np.arange(1, 10).reshape(1, 3, 3)
    a = im2col(layer, x)
    assert a.shape == (9, 9)
    assert list(a[0]) == [0, 0, 0, 0, 1, 2, 0, 4, 5]
