"""The three dataflows as one small table: which GEMM dimension goes to the array's rows,
which to its columns, and which is streamed through it over time.

For ``O[M×N] = A[M×K] · W[K×N]`` on an R×C array (SCALE-Sim's meaning of the names):

========  ==========  ==========  ========  ===================================================
dataflow  rows (≤R)   cols (≤C)   time      what stays in the PEs during a fold
========  ==========  ==========  ========  ===================================================
``os``    M           N           K         the outputs: accumulated in place, drained after
``ws``    K           N           M         the weights: loaded first, partial sums flow down
``is``    K           M           N         the inputs: loaded first, partial sums flow down
========  ==========  ==========  ========  ===================================================

A fold is one mapping of ≤R × ≤C elements of the (rows, cols) dimensions onto the array; the
time dimension streams through it in full. Everything else in accelsim reads this table rather
than branching on the dataflow's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.registry import Registry

GEMM_DIMS = ("M", "N", "K")


@dataclass(frozen=True)
class Dataflow:
    """How a GEMM is laid onto the array.

    Attributes
    ----------
    name:
        Registry key (``"os"``, ``"ws"``, ``"is"``).
    rows_dim, cols_dim, time_dim:
        The GEMM dimension (``"M"``, ``"N"`` or ``"K"``) mapped to array rows, array columns
        and time.
    preloads_stationary:
        True when an operand tile is shifted into the PEs before streaming starts (WS, IS):
        that costs R cycles per fold.
    drains_accumulators:
        True when results stay in the PEs and must be shifted out after streaming (OS): R
        cycles per fold in the physical timing convention.
    """

    name: str
    rows_dim: str
    cols_dim: str
    time_dim: str
    preloads_stationary: bool
    drains_accumulators: bool
    description: str

    def __post_init__(self) -> None:
        if sorted((self.rows_dim, self.cols_dim, self.time_dim)) != sorted(GEMM_DIMS):
            raise ValueError(f"dataflow {self.name!r} must map each of M, N, K exactly once")

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        """``(rows, cols, time)`` extents of a GEMM ``M×N×K`` under this dataflow."""
        sizes = {"M": m, "N": n, "K": k}
        return sizes[self.rows_dim], sizes[self.cols_dim], sizes[self.time_dim]


DATAFLOWS: Registry[Dataflow] = Registry("dataflow")
DATAFLOWS.register("os", Dataflow("os", "M", "N", "K", False, True, "output stationary"))
DATAFLOWS.register("ws", Dataflow("ws", "K", "N", "M", True, False, "weight stationary"))
DATAFLOWS.register("is", Dataflow("is", "K", "M", "N", True, False, "input stationary"))


def get_dataflow(name: str | Dataflow) -> Dataflow:
    """The registered dataflow called ``name`` (a :class:`Dataflow` is returned as is)."""
    return name if isinstance(name, Dataflow) else DATAFLOWS.get(name)
