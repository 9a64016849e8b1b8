"""Figures from the result tables of a run: what a reader needs without the code.

Each function takes the ``summary`` or ``layers`` table (columns in :mod:`accelsim.report`) and
returns a matplotlib Figure; :func:`write_figures` writes them all (a run: speedup, attribution,
energy per component with the saving against dense, per-layer cycles, latency, timeline) and
:func:`write_sweep_figures` a sweep's (speedup, and latency, energy and EDP per image against
array size; heatmaps with the dense baseline). Axes carry units and latency axes start at 0;
schedulers, energy components and kinds of lost cycles keep their colours in every figure.
:func:`read_results` reads and checks the tables of an
``accelsim run`` or ``accelsim sweep`` output folder, so that no figure is drawn from a cut or
foreign file.
"""

from accelsim.plots.common import ResultsError
from accelsim.plots.read import read_results
from accelsim.plots.run import (ENERGY_COLOURS, attribution_figure, energy_figure, energy_groups, latency_figure,
                                layers_figure, results_clock_mhz, speedup_figure, timeline_figure, write_figures)
from accelsim.plots.sweep import (heatmap_figure, sweep_cost_figure, sweep_costs, sweep_slices_figure,
                                  sweep_speedup_figure, write_sweep_figures)

__all__ = ["ResultsError", "read_results", "ENERGY_COLOURS", "attribution_figure", "energy_figure", "energy_groups",
           "latency_figure", "layers_figure", "results_clock_mhz", "speedup_figure", "timeline_figure",
           "write_figures", "heatmap_figure", "sweep_cost_figure", "sweep_costs", "sweep_slices_figure",
           "sweep_speedup_figure", "write_sweep_figures"]
