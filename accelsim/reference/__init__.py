"""Per-cycle reference models, written independently of the closed forms and the engine to
check them: the per-fold array (:mod:`~accelsim.reference.array`), the pipelined sequence
machine (:mod:`~accelsim.reference.sequence`; its controller rule in
:mod:`~accelsim.reference.controller`, a GEMM's folds in :mod:`~accelsim.reference.folds`),
slices fed by a queue (:mod:`~accelsim.reference.sliced`), a whole layer's plan (:mod:`~accelsim.reference.layer`)
a cycle-stepped DRAM channel feeding one array (:mod:`~accelsim.reference.memory`) and
the slices (:mod:`~accelsim.reference.slices`).
Nothing in the simulator's pipeline imports them."""

from accelsim.reference.array import ReferenceResult, simulate_gemm
from accelsim.reference.layer import execute_on_reference
from accelsim.reference.memory import stepped_layer_cycles
from accelsim.reference.slices import stepped_sliced_cycles

__all__ = ["ReferenceResult", "simulate_gemm", "execute_on_reference", "stepped_layer_cycles",
           "stepped_sliced_cycles"]
