"""The discrete-event model: a SimPy process drives the array through the fold plans.

Events are at fold granularity: one timeout per run of identical folds, never per cycle, so a
simulation costs time in proportion to the number of runs. Layers run back to back on the one
array. The memory system is not modelled yet: operands are always on chip, so stall cycles
are 0 and a layer takes exactly its stall-free cycles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import simpy

from accelsim.schedule.plan import LayerPlan


@dataclass(frozen=True)
class LayerTiming:
    """When one layer ran, in array cycles from the start of the network."""

    layer: str
    start_cycle: int
    cycles_compute: int  #: cycles the array spent on the layer's folds
    cycles_stall: int  #: cycles the array waited for operands

    @property
    def cycles_total(self) -> int:
        return self.cycles_compute + self.cycles_stall


def _array_process(env: simpy.Environment, plans: Sequence[LayerPlan], timeline: list[LayerTiming]):
    for plan in plans:
        start = env.now
        durations = (plan.runs["count"] * plan.runs["cycles"]).tolist()
        # The convention's offset (scalesim: −1) trims the layer's last run.
        durations[-1] += plan.offset_cycles
        for cycles in durations:
            yield env.timeout(cycles)
        timeline.append(LayerTiming(plan.layer.name, int(start), int(env.now - start), 0))


def simulate(plans: Sequence[LayerPlan]) -> list[LayerTiming]:
    """Run the plans in order on one array; one :class:`LayerTiming` per plan."""
    env = simpy.Environment()
    timeline: list[LayerTiming] = []
    env.process(_array_process(env, plans, timeline))
    env.run()
    return timeline
