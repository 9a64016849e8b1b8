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
step the same channel cycle by cycle. SRAM banks and ports belong here as further components
with the same interface: asked for at a cycle, they answer when the access begins.
"""

from __future__ import annotations

import math


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
