"""Schedulers: strategies that turn a layer (and, for gated layers, one image's gate
decisions) into a fold plan. Each is one class registered by name in :data:`SCHEDULERS`;
gating schedulers implement one method, ``conditional_items``."""

from typing import Protocol

from accelsim.config import HardwareConfig
from accelsim.registry import Registry
from accelsim.schedule.balanced import BalancedOracleScheduler, BalancedScheduler
from accelsim.schedule.dense import DenseScheduler
from accelsim.schedule.gated import GatedScheduler, GateGeometry, LayerGates, Timer
from accelsim.schedule.onepass import one_pass_plan
from accelsim.schedule.plan import (PHASE_BASE, PHASE_CONDITIONAL, PHASE_DENSE, PHASE_ONE_PASS, RUN_DTYPE,
                                    LayerPlan, WorkItem)
from accelsim.schedule.skipping import ClockGateScheduler, PixelSkipScheduler, TileSkipScheduler
from accelsim.schedule.taskqueue import TaskQueueScheduler
from accelsim.workload.layer import Layer


class Scheduler(Protocol):
    """What a scheduler provides: a registry name, a ``plan`` for one layer and image, and
    whether its plans on a config read the calibration images."""

    name: str

    def reads_calibration(self, config: HardwareConfig) -> bool: ...

    def plan(self, layer: Layer, config: HardwareConfig, gates: LayerGates | None = None) -> LayerPlan: ...


SCHEDULERS: Registry[type[Scheduler]] = Registry("scheduler")
for _scheduler in (DenseScheduler, ClockGateScheduler, TileSkipScheduler, PixelSkipScheduler,
                   BalancedScheduler, BalancedOracleScheduler, TaskQueueScheduler):
    SCHEDULERS.register(_scheduler.name, _scheduler)


def get_scheduler(name: str, timer: Timer | None = None) -> Scheduler:
    """A new instance of the scheduler registered as ``name``. Gating schedulers whose
    ``fallback`` is ``calibrated`` choose each layer's path by timing plans with ``timer``
    (:func:`accelsim.engine.simulate`; :func:`accelsim.run` passes it)."""
    return SCHEDULERS.get(name)(timer)


__all__ = ["Scheduler", "SCHEDULERS", "get_scheduler", "DenseScheduler", "GatedScheduler",
           "GateGeometry", "LayerGates", "LayerPlan", "RUN_DTYPE", "WorkItem", "PHASE_DENSE",
           "PHASE_BASE", "PHASE_CONDITIONAL", "PHASE_ONE_PASS", "one_pass_plan", "ClockGateScheduler",
           "TileSkipScheduler", "PixelSkipScheduler", "BalancedScheduler", "BalancedOracleScheduler",
           "TaskQueueScheduler"]
