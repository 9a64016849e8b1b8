"""The array: the dataflow table, closed-form fold timing, and the per-cycle reference model."""

from accelsim.arch.dataflow import DATAFLOWS, Dataflow, get_dataflow
from accelsim.arch.reference import ReferenceResult, simulate_gemm
from accelsim.arch.timing import (TIMINGS, TimingConvention, dense_gemm_cycles, fold_cycles, fold_grid,
                                  get_timing, sequence_cycles, sequence_overhead)

__all__ = ["DATAFLOWS", "Dataflow", "get_dataflow", "ReferenceResult", "simulate_gemm", "TIMINGS",
           "TimingConvention", "dense_gemm_cycles", "fold_cycles", "fold_grid", "get_timing",
           "sequence_cycles", "sequence_overhead"]
