"""Schedulers: strategies that turn a layer (and, for gated layers, its gate masks) into a fold
plan. Each is one class with a ``plan`` method, registered by name in :data:`SCHEDULERS`."""

from typing import Protocol

from accelsim.config import HardwareConfig
from accelsim.registry import Registry
from accelsim.schedule.dense import DenseScheduler
from accelsim.schedule.plan import RUN_DTYPE, LayerPlan
from accelsim.workload.layer import Layer


class Scheduler(Protocol):
    """What a scheduler provides: a registry name and a ``plan`` for one layer."""

    name: str

    def plan(self, layer: Layer, config: HardwareConfig) -> LayerPlan: ...


SCHEDULERS: Registry[type[Scheduler]] = Registry("scheduler")
SCHEDULERS.register("dense", DenseScheduler)


def get_scheduler(name: str) -> Scheduler:
    """A new instance of the scheduler registered as ``name``."""
    return SCHEDULERS.get(name)()


__all__ = ["Scheduler", "SCHEDULERS", "get_scheduler", "DenseScheduler", "LayerPlan", "RUN_DTYPE"]
