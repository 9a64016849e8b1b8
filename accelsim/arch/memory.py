"""The memory system the slices are timed against.

A component answers one question: when may a transfer begin?

* :class:`DramChannel` — one DRAM channel of ``bandwidth`` bytes per cycle: transfers are
  served one at a time in the order they are asked for, each holding the channel for whole
  cycles (:func:`transfer_cycles`).
* ``None`` stands for an ideal memory: nothing waits, as with unbounded bandwidth.

A transfer moves ``bandwidth`` bytes a cycle and never shares a cycle with the next one; the
bytes moved in a cycle arrive ``latency`` cycles after it. What a fold waits for is
:func:`fold_pace`, the one rule of one array (:mod:`accelsim.engine`) and of the slices
(:mod:`accelsim.arch.machine`). ``accelsim.reference.memory`` and ``accelsim.reference.slices``
step the same channel cycle by cycle.

* :class:`SramPorts` — the read ports of the ifmap and filter SRAMs: ``banks`` banks, each one
  ``sram_port_bits`` port, shared evenly by the P slices (a time-division crossbar: in each
  cycle a bank serves one slice, in turn, so no two slices ever want a bank in the same cycle;
  what an idle slice's turn could have served is lost). A fold streams one operand per lane
  and step from each SRAM it streams from; where that is more than the slice's share of the
  ports, its stream stretches to the cycles the share needs (:meth:`SramPorts.steps`), and
  the controller's rule runs the longer stream. Addresses are interleaved word by word across
  the banks (word w in bank w mod banks), so a stream of consecutive words meets the banks in
  the order its turns bring them; a stream that jumps (an im2col window's rows) is assumed laid
  out so that it does too, as a bank-aware allocator would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.arch.dataflow import get_dataflow


#: relative slack for bytes that are a share of a whole (a fraction), so that a share computed
#: as 47.99999… bytes at 16 B/cycle takes the 3 cycles it means
_EPSILON = 1e-9


def transfer_cycles(size: float, bandwidth: float) -> int:
    """Whole cycles a transfer of ``size`` bytes holds a channel of ``bandwidth`` bytes a cycle."""
    cycles = size / bandwidth
    return max(0, math.ceil(cycles - _EPSILON * max(1.0, cycles)))


def fold_pace(own: int, moved: int, latency: int) -> int:
    """Cycles from when a fold's transfer is issued (as the fold before it starts, which frees
    the other half of the double buffer) until the fold may start: its whole transfer must have
    left the channel (``moved`` cycles) and, where it fetches operands of its own (the first
    ``own`` cycles of the transfer), those must have arrived, ``latency`` cycles later. Streamed
    bytes (resident operands, outputs) need no latency: the SRAM that holds them lets them run
    ahead. The one rule of one array and of the slices (:mod:`accelsim.engine`,
    :mod:`accelsim.arch.machine`)."""
    return max(moved, own + latency) if own > 0 else moved


class DramChannel:
    """One DRAM channel: ``bandwidth`` bytes per cycle, ``latency`` cycles to the data,
    transfers served one at a time in the order they are asked for (FIFO), each holding the
    channel for whole cycles (:func:`transfer_cycles`). ``free`` is the first cycle at which
    it has nothing left to do."""

    def __init__(self, bandwidth: float, latency: int) -> None:
        if not bandwidth > 0 or math.isinf(bandwidth):
            raise ValueError(f"a DRAM channel needs a finite positive bandwidth, got {bandwidth}")
        self.bandwidth, self.latency = bandwidth, latency
        self.free = 0
        self._asked = 0  # when the last transfer was asked for

    def cycles(self, size: float) -> int:
        """Cycles ``size`` bytes hold the channel."""
        return transfer_cycles(size, self.bandwidth)

    def begin(self, asked: float, cycles: int) -> float:
        """Queue a transfer asked for at cycle ``asked`` that holds the channel ``cycles``
        cycles; returns the cycle the channel begins it. Transfers are asked for in the order
        of ``asked``, so first come is first served."""
        if asked < self._asked:  # out of order, the queue would not be first come, first served
            raise ValueError(f"a transfer asked for at cycle {asked} after one asked for at {self._asked}")
        self._asked = asked
        start = max(asked, self.free)
        self.free = start + cycles
        return start


@dataclass(frozen=True)
class SramPorts:
    """What one slice may read per cycle from the ifmap and filter SRAMs (module doc), kept in
    integers so that cycles are exact: per operand that streams under the dataflow, the fold
    side its lanes lie on and ``(operand bits · P, port bits of its SRAM)``; the same for the
    stationary operand (WS: weights, IS: inputs), whose tile a fold loads before it streams."""

    streams: tuple[tuple[str, int, int], ...]  #: (``rows`` or ``cols``, bits · P, port bits)
    tile: tuple[int, int] | None  #: (bits · P, port bits) of the stationary operand, if limited

    @classmethod
    def of(cls, config) -> SramPorts | None:
        """The config's ports, or None where neither SRAM limits a fold (0 banks, or the
        idealised model: ``costs = "ideal"``)."""
        if config.costs == "ideal":
            return None
        flow = get_dataflow(config.dataflow)
        streams, tile = [], None
        for operand, dims, banks in (("ifmap", ("M", "K"), config.ifmap_sram_banks),
                                     ("filter", ("K", "N"), config.filter_sram_banks)):
            if not banks:
                continue
            share = (config.operand_bits * config.array_slices, banks * config.sram_port_bits)
            if flow.time_dim not in dims:
                tile = share
                continue
            other = dims[0] if dims[1] == flow.time_dim else dims[1]
            streams.append(("rows" if other == flow.rows_dim else "cols", *share))
        return cls(tuple(streams), tile) if streams or tile else None

    def steps(self, steps: int, rows: int, cols: int) -> int:
        """Cycles a fold of ``rows`` × ``cols`` PEs in use streams ``steps`` steps for: each
        step takes one operand per lane of each streamed operand, and a slice's share of an
        SRAM's ports delivers ``port bits / P`` bits a cycle."""
        longest = steps
        for side, bits, port in self.streams:
            lanes = rows if side == "rows" else cols
            longest = max(longest, -(-steps * lanes * bits // port))
        return longest

    def load(self, load: int, rows: int, cols: int) -> int:
        """Cycles a fold takes to load its stationary tile of ``rows`` × ``cols`` operands,
        at least ``load`` (the array's rows, one shift a cycle)."""
        if self.tile is None:
            return load
        bits, port = self.tile
        return max(load, -(-rows * cols * bits // port))


def sram_banks(config) -> dict[str, int]:
    """The banks of each SRAM (``ifmap``, ``filter``, ``ofmap``): the config's count, else (0)
    the fewest whose ports deliver what the P slices read at full rate, so that no fold waits on
    them: per streamed operand one operand per lane of the fold side it enters on, per stationary
    operand (WS weights, IS inputs) a tile's columns a cycle (a tile of ≤ R rows loads in R
    cycles). The ofmap SRAM has the banks for a row of a·(slice columns) result bits a cycle from
    each slice (a drain under OS, partial sums under WS/IS): its ports never hold a fold back
    (there is no field to give it fewer)."""
    flow = get_dataflow(config.dataflow)
    ofmap_bits = config.slice_cols * config.accumulator_bits * config.array_slices
    banks = {"ofmap": max(1, -(-ofmap_bits // config.sram_port_bits))}
    for operand, dims in (("ifmap", ("M", "K")), ("filter", ("K", "N"))):
        given = getattr(config, f"{operand}_sram_banks")
        if given:
            banks[operand] = given
            continue
        if flow.time_dim in dims:
            other = dims[0] if dims[1] == flow.time_dim else dims[1]
            lanes = config.rows_per_slice if other == flow.rows_dim else config.slice_cols
        else:
            lanes = config.slice_cols
        bits = lanes * config.operand_bits * config.array_slices
        banks[operand] = max(1, -(-bits // config.sram_port_bits))
    return {buffer: banks[buffer] for buffer in ("ifmap", "filter", "ofmap")}
