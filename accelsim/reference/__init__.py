"""Per-cycle reference models, written independently of the closed forms and the engine to
check them: the per-fold array (:mod:`~accelsim.reference.array`), the pipelined sequence
machine (:mod:`~accelsim.reference.sequence`), slices fed by a queue
(:mod:`~accelsim.reference.sliced`) and a whole layer's plan (:mod:`~accelsim.reference.layer`).
Nothing in the simulator's pipeline imports them."""

from accelsim.reference.array import ReferenceResult, simulate_gemm
from accelsim.reference.layer import execute_on_reference

__all__ = ["ReferenceResult", "simulate_gemm", "execute_on_reference"]
