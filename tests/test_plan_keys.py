"""Plans are shared between configs with the same :func:`accelsim.simulate.plan_key`; a field
left out of the key must change no plan, or a sweep would reuse a stale one.

The key comes from each config field's ``stage`` tag. Here every field outside the key is
changed to another valid value, and every scheduler plans the same layers again: any plan that
differs names a field that planning reads but the key leaves out.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from accelsim import DEFAULT_CONFIG, Layer
from accelsim.config import STAGES, HardwareConfig
from accelsim.engine import simulate as time_plans
from accelsim.schedule import SCHEDULERS, LayerGates, get_scheduler
from accelsim.simulate import fields_read, plan_key
from accelsim.trace import as_trace_layer

#: per field, another valid value that would change what reads it (memory: a starved DRAM, an
#: ifmap SRAM that holds nothing, one bank per SRAM; the account: other tables and clocks)
OTHER_VALUES = {
    "ifmap_sram_kib": 0.0625, "dram_bandwidth_bytes_per_cycle": 0.5, "dram_latency_cycles": 500,
    "clock_mhz": 200.0, "word_bytes": 4, "energy_profile": "horowitz45", "technology_nm": 32,
    "dram_type": "HBM2", "sram_port_bits": 256, "energy_overrides": (("mac", 9.0),),
    "ifmap_sram_banks": 1, "filter_sram_banks": 1, "costs": "ideal",
}
LAYERS = (Layer.conv("a", 8, 16, 6, 3, 1, 1), Layer.conv("b", 16, 16, 5, 3, 2, 1), Layer.conv("c", 16, 8, 4, 1, 1, 0))
#: small SRAMs, so that windows and spills happen; a sliced array, so that the task queue plans
BASE = DEFAULT_CONFIG.replace(array_rows=8, array_cols=8, array_slices=4, task_folds=1, ifmap_sram_kib=1.0,
                              filter_sram_kib=1.0, ofmap_sram_kib=1.0)


def _signature(plan) -> tuple:
    sliced = plan.sliced
    return (plan.runs.tobytes(), plan.cycles, plan.path, plan.needed_macs, plan.offset_cycles,
            None if sliced is None else (sliced.makespans, sliced.busy, sliced.held_outputs,
                                         [[(task.after, task.window, task.folds) for task in phase]
                                          for phase in sliced.phases]))


def _plans(config: HardwareConfig) -> list:
    rng = np.random.default_rng(0)
    signatures = []
    for name in SCHEDULERS.names():
        scheduler = get_scheduler(name, timer=time_plans)
        for layer in LAYERS:
            shape = (layer.out_channels, layer.out_h, layer.out_w)
            gates = LayerGates(as_trace_layer(layer, 2), rng.random(shape) < 0.3, rng.random((2, *shape)) < 0.3)
            signatures.append((name, layer.name, _signature(scheduler.plan(layer, config, gates))))
    return signatures


def test_every_field_has_a_stage():
    assert {spec.metadata["stage"] for spec in fields(HardwareConfig)} <= set(STAGES)
    assert set(fields_read("plan")) | set(fields_read("memory")) | set(fields_read("account")) == {
        spec.name for spec in fields(HardwareConfig)}


@pytest.mark.parametrize("fallback", ["off", "calibrated"])
def test_no_field_outside_the_key_changes_a_plan(fallback):
    config = BASE.replace(fallback=fallback)
    outside = [name for name in fields_read("memory") + fields_read("account")
               if fallback == "off" or name in fields_read("account")]
    assert sorted(OTHER_VALUES) == sorted(fields_read("memory") + fields_read("account"))
    plans = _plans(config)
    for name in outside:
        changed = config.replace(**{name: OTHER_VALUES[name]})
        assert plan_key(changed) == plan_key(config)
        assert _plans(changed) == plans, f"{name} changes a plan but is not in plan_key"


def test_the_comparison_sees_a_field_planning_reads():
    """A field inside the key, changed the same way, does alter the plans: had it been left
    out of the key (tagged ``memory`` or ``account``), the test above would name it."""
    config = BASE.replace(fallback="off")
    assert _plans(config.replace(ofmap_sram_kib=0.0625)) != _plans(config)
