"""Workloads: layers, networks, built-in topologies, topology files and import from models."""

from accelsim.workload.from_onnx import network_from_onnx
from accelsim.workload.from_torch import network_from_torch
from accelsim.workload.layer import Layer, Network
from accelsim.workload.networks import NETWORKS, get_network
from accelsim.workload.topology import dumps_topology, load_topology, write_topology

__all__ = ["Layer", "Network", "NETWORKS", "dumps_topology", "get_network", "load_topology",
           "network_from_onnx", "network_from_torch", "write_topology"]
