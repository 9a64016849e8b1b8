"""Gate traces: the file format (its layout, manifest, reader and writer), matching to networks,
statistics, and the synthetic generator."""

from accelsim.trace.fit import compare_statistics, fit_knobs
from accelsim.trace.format import FORMAT_NAME, FORMAT_VERSION, TraceInfo, TraceLayer
from accelsim.trace.network import as_trace_layer, gateable_layers, match_trace
from accelsim.trace.reader import GateTrace, open_trace
from accelsim.trace.stats import STATISTICS, layer_statistics, mask_statistics, network_flop_reduction
from accelsim.trace.synth import SynthKnobs, gated_trace_layers, synthesize, uniform_rate_for_reduction
from accelsim.trace.writer import TraceWriter, pack_masks, write_trace

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "GateTrace", "TraceInfo", "TraceLayer", "TraceWriter",
           "open_trace", "pack_masks", "write_trace", "as_trace_layer", "gateable_layers",
           "match_trace", "STATISTICS", "layer_statistics", "mask_statistics",
           "network_flop_reduction", "SynthKnobs", "gated_trace_layers", "synthesize", "uniform_rate_for_reduction",
           "fit_knobs", "compare_statistics"]
