"""Energy: sourced technology tables and the energy account of a run."""

from accelsim.energy.table import PROFILES, EnergyTable, energy_table, load_profile

__all__ = ["PROFILES", "EnergyTable", "energy_table", "load_profile"]
