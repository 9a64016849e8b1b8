"""A cycle-stepped DRAM channel feeding one double-buffered array: the reference the engine's
closed form for finite bandwidth is checked against, written without it.

Every cycle the channel moves up to ``bandwidth`` bytes of the transfer in front of it (a
transfer never shares a cycle with the next); bytes moved in cycle t arrive at t + 1 +
``latency``. A fold's transfer moves the operands the fold fetches for itself first, then its
share of what the layer streams (resident operands, outputs). It is issued in the cycle the
fold before starts (the other half of the double buffer is free from then). A fold starts in
the first cycle in which the fold before has finished, its whole transfer has left the
channel, and its own operands have arrived; the layer's first fold, which follows nothing,
needs all of its transfer to have arrived. After the last fold (and the layer's offset) the
channel writes what is left of the outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class _Transfer:
    size: float  #: bytes it moves
    needed: float  #: of which the fold must have received (latency included) before it starts
    left: float = 0.0
    done: int | None = None  #: when its last byte has left the channel
    arrived: int | None = None  #: when its needed bytes are in the SRAM

    def __post_init__(self) -> None:
        self.left = self.size

    def step(self, cycle: int, bandwidth: float, latency: int) -> None:
        """Move one cycle's bytes, in ``cycle``."""
        if self.done is not None:
            return
        self.left -= bandwidth
        tolerance = 1e-9 * max(bandwidth, self.size)
        if self.arrived is None and self.size - self.left >= self.needed - tolerance:
            self.arrived = cycle + 1 + latency
        if self.left <= tolerance:
            self.done = cycle + 1

    def ready(self, cycle: int) -> bool:
        return (self.done is not None and self.done <= cycle
                and (self.needed <= 0 or self.arrived is not None and self.arrived <= cycle))


def _idle(issued: int, size: float, needed: float) -> _Transfer:
    transfer = _Transfer(size, needed)
    if size <= 0:
        transfer.done, transfer.arrived = issued, issued
    return transfer


def stepped_layer_cycles(fold_cycles: Sequence[int], own: Sequence[float], moved: Sequence[float],
                         written: float, offset: int, bandwidth: float, latency: int,
                         gaps: Sequence[int] | None = None) -> int:
    """Cycles of one layer whose fold k computes ``fold_cycles[k]`` cycles and whose transfer
    moves ``moved[k]`` bytes, the first ``own[k]`` of them its own operands; fold k starts
    no sooner than ``gaps[k]`` cycles after the fold before has finished (a gate latency);
    ``written`` bytes of outputs leave after the last fold and ``offset`` ends the layer.
    Stepped one cycle at a time (module doc)."""
    count = len(fold_cycles)
    if count == 0:
        return offset
    cycle, started, busy_until = 0, 0, 0
    transfer = _idle(0, moved[0], moved[0])  # the first fold needs all of it
    last_start = 0
    while started < count:
        if cycle >= busy_until + (gaps[started] if gaps else 0) and transfer.ready(cycle):
            last_start, busy_until = cycle, cycle + fold_cycles[started]
            started += 1
            if started < count:  # the next fold's transfer, into the half just freed
                transfer = _idle(cycle, moved[started], own[started])
        if started < count:
            transfer.step(cycle, bandwidth, latency)
        cycle += 1
    end = last_start + fold_cycles[-1] + offset
    write = _idle(end, written, 0.0)
    cycle = end
    while write.done is None:
        write.step(cycle, bandwidth, latency)
        cycle += 1
    return write.done


def stepped_stream_cycles(steps: int, demands: Sequence[tuple[int, int]]) -> int:
    """Cycles a fold takes to stream ``steps`` steps through SRAM ports, stepped one cycle at a
    time: per streamed operand ``(need, port)``, its port adds ``port`` bits of credit every
    cycle and a step takes ``need`` bits from each; at most one step a cycle."""
    credit = [0] * len(demands)
    cycle = done = 0
    while done < steps:
        credit = [have + port for have, (_, port) in zip(credit, demands)]
        if all(have >= need for have, (need, _) in zip(credit, demands)):
            credit = [have - need for have, (need, _) in zip(credit, demands)]
            done += 1
        cycle += 1
    return cycle


def port_demands(config, rows: int, cols: int) -> list[tuple[int, int]]:
    """Per SRAM a fold of ``rows`` × ``cols`` PEs in use streams from (ifmap under OS and WS,
    filter under OS and IS), ``(bits a step needs · P, port bits of the SRAM)``: the slice's
    share of the ports is a P-th of them. An SRAM of 0 banks limits nothing."""
    name = config.dataflow
    streamed = {"os": (("ifmap", rows), ("filter", cols)), "ws": (("ifmap", rows),), "is": (("filter", rows),)}[name]
    return [(lanes * config.operand_bits * config.array_slices, banks * config.sram_port_bits)
            for sram, lanes in streamed if (banks := getattr(config, f"{sram}_sram_banks"))]


def stepped_load_cycles(rows: int, operands: int, demand: tuple[int, int] | None) -> int:
    """Cycles a stationary tile of ``operands`` operands takes to load, stepped one cycle at a
    time: one shift a cycle for the array's ``rows``, and with ``demand = (need, port)`` the
    port adds ``port`` bits of credit a cycle until the tile's ``need`` bits per operand are in."""
    cycle, credit = 0, 0
    need = operands * demand[0] if demand else 0
    while cycle < rows or credit < need:
        credit += demand[1] if demand else 0
        cycle += 1
    return cycle


def tile_demand(config) -> tuple[int, int] | None:
    """``(bits an operand needs · P, port bits)`` of the SRAM a WS/IS fold loads its stationary
    tile from (WS: filter, IS: ifmap); None under OS or where that SRAM has 0 banks."""
    sram = {"ws": "filter", "is": "ifmap"}.get(config.dataflow)
    banks = getattr(config, f"{sram}_sram_banks") if sram else 0
    return (config.operand_bits * config.array_slices, banks * config.sram_port_bits) if banks else None
