"""The controller rule of the sequence machine (:mod:`accelsim.reference.sequence`; the
``pipelined`` rule is documented in ``docs/timing.md``): when each fold of a sequence loads its
tile and starts streaming, from the folds' lengths, the array's shape and, optionally, when
each fold may start at the earliest. The slice references (:mod:`accelsim.reference.sliced`,
:mod:`accelsim.reference.slices`) time their slices' folds by the same rule.
"""

from __future__ import annotations

from accelsim.arch.dataflow import Dataflow, get_dataflow


def controller_schedule(dataflow: str | Dataflow, steps, rows: int, cols: int,
                        spacing: str = "pipelined", earliest=None, gaps=None,
                        loading=None) -> tuple[list[int], list[int]]:
    """When the controller of an R×C machine loads and starts each fold of a sequence whose
    folds stream ``steps`` (one T per fold, in issue order): ``(loads, starts)``, cycles from
    the sequence's first. ``loads`` is empty for output-stationary machines, which load no tile.

    ``pipelined``: OS ``s[j+1] = s[j] + T[j] + max(0, R − T[j+1])``; WS/IS ``L[j+1] =
    max(L[j] + R, s[j])``, ``s[j+1] = max(s[j] + T[j], L[j+1] + R)`` from ``L[0] = 0``,
    ``s[0] = R``. ``physical``: each fold starts (OS) or loads its tile (WS/IS) when the
    previous one would have drained alone. ``earliest`` (one cycle per fold, optional): a fold
    starts (OS) or loads its tile (WS/IS) no earlier, as when it waits for its inputs.
    ``gaps`` (one per fold, optional): a fold starts at least that long after the one before,
    as when its operands arrive one fold at a time. ``loading`` (one per fold, optional; WS/IS):
    the cycles each tile takes to load, in place of R, as when the SRAM's ports are short.
    """
    steps = [int(t) for t in steps]
    if not steps:
        return [], []
    wait = [0] * len(steps) if earliest is None else [int(e) for e in earliest]
    gap = [0] * len(steps) if gaps is None else [int(g) for g in gaps]
    if get_dataflow(dataflow).drains_accumulators:
        starts = [wait[0]]
        for j in range(1, len(steps)):
            if spacing == "physical":  # one fold after another: load, stream, skew and drain alone
                starts.append(max(starts[-1] + 2 * rows + cols + steps[j - 1] - 2, wait[j], starts[-1] + gap[j]))
            else:
                starts.append(max(starts[-1] + steps[j - 1] + max(0, rows - steps[j]), wait[j], starts[-1] + gap[j]))
        return [], starts
    load = [rows] * len(steps) if loading is None else [int(cycles) for cycles in loading]
    loads = [wait[0]]
    starts = [loads[0] + load[0]]
    for j in range(1, len(steps)):
        if spacing == "physical":  # the next tile loads when this fold has drained
            loads.append(max(starts[-1] + steps[j - 1] + rows + cols - 2, wait[j]))
        else:
            loads.append(max(loads[-1] + load[j - 1], starts[-1], wait[j]))
        starts.append(max(starts[-1] + steps[j - 1], loads[-1] + load[j], starts[-1] + gap[j]))
    return loads, starts


def controller_starts(dataflow: str | Dataflow, steps, rows: int, cols: int,
                      spacing: str = "pipelined", earliest=None, gaps=None, loading=None) -> list[int]:
    """The cycle at which each fold of a sequence starts streaming (see :func:`controller_schedule`):
    its first step enters the array's first lane then, its last ``T − 1`` cycles later."""
    return controller_schedule(dataflow, steps, rows, cols, spacing, earliest, gaps, loading)[1]
