"""How results of the reference machines land in a layer's output, as the output unit writes them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from accelsim.schedule.plan import PHASE_CONDITIONAL, WorkItem


def apply_result(output: np.ndarray, item: WorkItem, block_result: np.ndarray, decisions: np.ndarray | None) -> None:
    """Base and dense results are written; conditional ones are added where the gate is on."""
    block = np.ix_(item.pixels, item.channels)
    if item.phase == PHASE_CONDITIONAL:
        output[block] += np.where(decisions[block], block_result, 0)
    else:
        output[block] = block_result


def renumbered(fold, offset: int):
    """The fold with its outputs numbered from ``offset`` (its place in a sequence)."""
    return replace(fold, outputs=np.where(fold.outputs >= 0, fold.outputs + offset, -1))
