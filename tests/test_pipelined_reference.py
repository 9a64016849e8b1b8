"""The ``pipelined`` convention: one per-cycle machine runs whole sequences of folds back to
back with shadow registers; its cycles equal the closed form and its outputs are exact."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import dense_gemm_cycles, fold_grid, sequence_cycles
from accelsim.reference.folds import gemm_folds
from accelsim.reference.sequence import run_sequence
from tiers import examples

DATAFLOWS = ["os", "ws", "is"]
MAX_FOLDS = 48


@st.composite
def sequences(draw):
    """A sequence of 1–4 GEMMs of mixed sizes on one array: T < R and T ≫ R, edge tiles."""
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    gemms = [tuple(draw(st.integers(1, 24)) for _ in range(3)) for _ in range(draw(st.integers(1, 4)))]
    return rows, cols, gemms, draw(st.integers(0, 2**32 - 1))


def check_sequence(dataflow, case):
    rows, cols, gemms, seed = case
    folds_total = sum(np.prod(fold_grid(dataflow, rows, cols, *gemm)[:2]) for gemm in gemms)
    if folds_total > MAX_FOLDS:
        return
    rng = np.random.default_rng(seed)
    folds, expected, offset = [], [], 0
    for m, n, k in gemms:
        a = rng.integers(-128, 128, size=(m, k))
        w = rng.integers(-128, 128, size=(k, n))
        folds += [dataclasses.replace(fold, outputs=np.where(fold.outputs >= 0, fold.outputs + offset, -1))
                  for fold in gemm_folds(a, w, dataflow, rows, cols)]
        expected.append((a @ w).ravel())
        offset += m * n
    result = run_sequence(folds, dataflow, rows, cols, offset)
    np.testing.assert_array_equal(result.base + result.conditional, np.concatenate(expected))
    assert result.useful_macs == sum(m * n * k for m, n, k in gemms)
    steps = [fold.second.shape[0] for fold in folds]
    assert result.cycles == sequence_cycles(dataflow, rows, cols, steps, "pipelined")
    if len(gemms) == 1:
        assert result.cycles == dense_gemm_cycles(dataflow, rows, cols, *gemms[0], "pipelined")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(300), deadline=None)
@given(case=sequences())
def test_fold_sequences_match_the_closed_form(dataflow, case):
    check_sequence(dataflow, case)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(3000), deadline=None)
@given(case=sequences())
def test_fold_sequences_match_the_closed_form_thoroughly(dataflow, case):
    check_sequence(dataflow, case)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("gemms", [[(1, 1, 1)], [(8, 8, 2), (8, 8, 30)], [(3, 5, 1), (1, 1, 1), (9, 2, 40)]])
def test_fold_sequence_edge_cases(dataflow, gemms):
    check_sequence(dataflow, (4, 4, gemms, 3))


def test_pipelined_by_hand():
    """Three 4×4 OS folds streaming T = 10, 2, 10 on a 4×4 array: periods 10, 4, 10 less the
    first fold's padding (none), plus R + C − 1 = 7: 31 cycles. The short fold waits so that
    its results leave the column ports after the previous fold's. WS with T = 2, 10, 2: the
    loads pad the short folds but the last: 4 + 10 + 2 + (2R + C − 2 = 10) = 26."""
    assert sequence_cycles("os", 4, 4, [10, 2, 10], "pipelined") == 31
    assert sequence_cycles("ws", 4, 4, [2, 10, 2], "pipelined") == 26
    # a single fold costs what it costs alone: physical for WS/IS, the drain overlapping the skew for OS
    assert sequence_cycles("ws", 4, 4, [7], "pipelined") == dense_gemm_cycles("ws", 4, 4, 7, 4, 4, "physical")
    assert sequence_cycles("os", 4, 4, [7], "pipelined") == 4 + 4 + 7 - 1
