"""Workloads: layers, networks, built-in topologies and SCALE-Sim topology import."""

from accelsim.workload.layer import Layer, Network
from accelsim.workload.networks import NETWORKS, get_network
from accelsim.workload.topology import load_topology

__all__ = ["Layer", "Network", "NETWORKS", "get_network", "load_topology"]
