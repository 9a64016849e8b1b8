"""The per-cycle reference model against the closed forms and against numpy, on random shapes."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accelsim.reference import simulate_gemm
from accelsim.arch import dense_gemm_cycles, fold_grid, get_dataflow
from accelsim.config import HardwareConfig
from accelsim.schedule import get_scheduler
from accelsim.workload import Layer
from accelsim.engine import simulate as time_plans
from tiers import examples

DATAFLOWS = ["os", "ws", "is"]
MAX_FOLDS = 64  # keeps one case of the (slow, per-cycle) reference well under a second


@st.composite
def gemm_cases(draw):
    m, n, k = (draw(st.integers(1, 32)) for _ in range(3))
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    return m, n, k, rows, cols, seed


def small_enough(dataflow, case):
    m, n, k, rows, cols, _ = case
    row_folds, col_folds, _ = fold_grid(dataflow, rows, cols, m, n, k)
    return row_folds * col_folds <= MAX_FOLDS


def check_case(dataflow, case):
    m, n, k, rows, cols, seed = case
    row_folds, col_folds, _ = fold_grid(dataflow, rows, cols, m, n, k)
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int64)
    w = rng.integers(-128, 128, size=(k, n), dtype=np.int64)

    reference = simulate_gemm(a, w, dataflow, rows, cols)

    # function: the array computes the product exactly
    np.testing.assert_array_equal(reference.output, a @ w)
    assert reference.useful_macs == m * n * k
    assert reference.pe_macs == reference.folds * rows * cols * get_dataflow(dataflow).dims(m, n, k)[2]
    # timing: the closed form, to the cycle
    assert reference.folds == row_folds * col_folds
    assert reference.cycles == dense_gemm_cycles(dataflow, rows, cols, m, n, k, "physical")
    # the scalesim convention differs by R per OS fold (no drain) and −1 per layer
    drain = rows * reference.folds if get_dataflow(dataflow).drains_accumulators else 0
    assert dense_gemm_cycles(dataflow, rows, cols, m, n, k, "scalesim") == reference.cycles - drain - 1
    # the dense scheduler's fold plan tells the same story
    config = HardwareConfig(array_rows=rows, array_cols=cols, dataflow=dataflow, timing="physical")
    plan = get_scheduler("dense", timer=time_plans).plan(Layer.gemm("g", m, n, k), config)
    assert (plan.folds, plan.cycles, plan.macs) == (reference.folds, reference.cycles, m * n * k)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=gemm_cases())
def test_reference_matches_closed_form(dataflow, case):
    assume(small_enough(dataflow, case))
    check_case(dataflow, case)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@settings(max_examples=examples(3000), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=gemm_cases())
def test_reference_matches_closed_form_thoroughly(dataflow, case):
    assume(small_enough(dataflow, case))
    check_case(dataflow, case)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 1), (1, 1, 1, 8, 8), (8, 8, 8, 8, 8),
                                   (17, 3, 29, 4, 16), (3, 31, 2, 16, 4)])
def test_reference_edge_shapes(dataflow, shape):
    check_case(dataflow, (*shape, 7))


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_single_fold_by_hand(dataflow):
    """One full 2×3 fold streaming 4 steps takes 2R + C + T − 2 = 4 + 3 + 4 − 2 = 9 cycles."""
    extents = {"os": (2, 3, 4), "ws": (4, 3, 2), "is": (3, 4, 2)}[dataflow]  # M, N, K
    m, n, k = extents
    a = np.arange(m * k).reshape(m, k)
    w = np.arange(k * n).reshape(k, n) - 3
    result = simulate_gemm(a, w, dataflow, 2, 3)
    assert result.folds == 1
    assert result.cycles == 9
    np.testing.assert_array_equal(result.output, a @ w)
