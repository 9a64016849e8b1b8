"""The array: the dataflow table, closed-form fold timing, the slice machine and its memory.
The per-cycle reference models that check them are in :mod:`accelsim.reference`."""

from accelsim.arch.dataflow import DATAFLOWS, Dataflow, get_dataflow
from accelsim.arch.timing import (TIMINGS, TimingConvention, dense_gemm_cycles, fold_cycles, fold_grid,
                                  get_timing, sequence_cycles, sequence_overhead)

__all__ = ["DATAFLOWS", "Dataflow", "get_dataflow", "TIMINGS", "TimingConvention", "dense_gemm_cycles",
           "fold_cycles", "fold_grid", "get_timing", "sequence_cycles", "sequence_overhead"]
