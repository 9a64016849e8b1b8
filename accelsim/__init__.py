"""accelsim: a cycle-level simulator of systolic-array accelerators for channel-gated CNNs.

The data flows one way: workload + hardware config → schedule (fold plans) → engine
(timeline) → report (pandas tables).

Names are imported on first use, so that ``import accelsim`` (and ``accelsim --version``)
costs nothing before a name is needed.
"""

from __future__ import annotations

import importlib

from accelsim._version import __version__  # the one place the version is written

#: public name → the module that defines it
_SOURCES = {
    "accelsim.arch": ("DATAFLOWS", "TIMINGS", "Dataflow", "TimingConvention", "dense_gemm_cycles",
                      "fold_cycles", "get_dataflow", "get_timing"),
    "accelsim.config": ("DEFAULT_CONFIG", "HardwareConfig", "dumps_config", "load_config", "save_config"),
    "accelsim.errors": ("AccelsimError", "ConfigError", "TopologyError", "TraceError", "UnknownNameError",
                        "WorkloadError"),
    "accelsim.reference": ("simulate_gemm", "execute_on_reference"),
    "accelsim.report": ("LAYER_COLUMNS", "SUMMARY_COLUMNS", "write_tables"),
    "accelsim.scalesim_config": ("load_scalesim_config",),
    "accelsim.schedule": ("SCHEDULERS", "LayerPlan", "get_scheduler"),
    "accelsim.simulate": ("RunResult", "run"),
    "accelsim.trace": ("GateTrace", "SynthKnobs", "TraceInfo", "TraceLayer", "TraceWriter", "open_trace",
                       "synthesize", "write_trace"),
    "accelsim.workload": ("NETWORKS", "Layer", "Network", "get_network", "load_topology", "network_from_onnx",
                          "network_from_torch", "write_topology"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        try:  # a submodule, reached as an attribute (accelsim.sweep)
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
