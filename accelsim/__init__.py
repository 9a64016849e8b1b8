"""accelsim: a cycle-level simulator of systolic-array accelerators for channel-gated CNNs.

The data flows one way: workload + hardware config → schedule (fold plans) → engine
(timeline) → report (pandas tables).
"""

from accelsim.arch import (DATAFLOWS, TIMINGS, Dataflow, TimingConvention, dense_gemm_cycles,
                           fold_cycles, get_dataflow, get_timing, simulate_gemm)
from accelsim.config import (DEFAULT_CONFIG, HardwareConfig, dumps_config, load_config,
                             load_scalesim_config, save_config)
from accelsim.errors import (AccelsimError, ConfigError, TopologyError, TraceError,
                             UnknownNameError, WorkloadError)
from accelsim.report import LAYER_COLUMNS, SUMMARY_COLUMNS, write_tables
from accelsim.schedule import SCHEDULERS, LayerPlan, get_scheduler
from accelsim.simulate import RunResult, run
from accelsim.trace import (GateTrace, SynthKnobs, TraceInfo, TraceLayer, TraceWriter, open_trace,
                            synthesize, write_trace)
from accelsim.workload import (NETWORKS, Layer, Network, get_network, load_topology, network_from_onnx,
                               network_from_torch, write_topology)

__version__ = "0.1.0"

__all__ = [
    "AccelsimError", "ConfigError", "DATAFLOWS", "DEFAULT_CONFIG", "Dataflow", "HardwareConfig",
    "LAYER_COLUMNS", "Layer", "LayerPlan", "NETWORKS", "Network", "RunResult", "SCHEDULERS",
    "SUMMARY_COLUMNS", "TIMINGS", "TimingConvention", "TopologyError", "TraceError",
    "UnknownNameError", "GateTrace", "SynthKnobs", "TraceInfo", "TraceLayer", "TraceWriter",
    "open_trace", "synthesize", "write_trace",
    "WorkloadError", "dense_gemm_cycles", "dumps_config", "fold_cycles", "get_dataflow",
    "get_network", "get_scheduler", "get_timing", "load_config", "load_scalesim_config",
    "load_topology", "network_from_onnx", "network_from_torch", "run", "save_config", "simulate_gemm", "write_tables", "write_topology",
]
