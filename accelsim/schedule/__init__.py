"""Schedulers: strategies that turn a layer (and, for gated layers, its gate masks) into a fold
plan. Each is one class with a ``plan`` method, registered by name in :data:`SCHEDULERS`."""

from accelsim.registry import Registry
from accelsim.schedule.dense import DenseScheduler
from accelsim.schedule.plan import RUN_DTYPE, LayerPlan

SCHEDULERS: Registry[type] = Registry("scheduler")
SCHEDULERS.register("dense", DenseScheduler)


def get_scheduler(name: str):
    """A new instance of the scheduler registered as ``name``."""
    return SCHEDULERS.get(name)()


__all__ = ["SCHEDULERS", "get_scheduler", "DenseScheduler", "LayerPlan", "RUN_DTYPE"]
