"""The memory system the slices are timed against, as discrete-event components.

A component lives in a SimPy environment and answers one question: when may a transfer begin?

* :class:`DramChannel` — one DRAM channel of ``bandwidth`` bytes per cycle, a
  :class:`simpy.Resource` of capacity one: transfers are served one at a time in the order
  they are asked for, each holding the channel for ``bytes / bandwidth`` cycles. Who waits for
  whom is decided by the resource's queue.
* ``None`` stands for an ideal memory: nothing waits, as with unbounded bandwidth.

The data of a transfer arrive ``latency`` cycles after it ends; what a fold waits for is
the caller's rule (:mod:`accelsim.arch.machine`). SRAM banks and ports belong here as further
components with the same interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import simpy


def fold_pace(own: float, moved: float, latency: float) -> float:
    """The least time between the starts of two folds whose operands come one fold ahead: a
    fold's share of the channel (``moved`` cycles), and where it fetches operands of its own
    (``own`` cycles of them) those and the latency. Streamed bytes need no latency of their own:
    the SRAM that holds them lets them run ahead. The one pacing rule of one array and of the
    slices (:mod:`accelsim.engine`, :mod:`accelsim.arch.machine`)."""
    return max(moved, own + latency) if own > 0 else moved


class DramChannel:
    """One DRAM channel: FIFO, ``bandwidth`` bytes per cycle, ``latency`` cycles to the data."""

    def __init__(self, env: simpy.Environment, bandwidth: float, latency: float) -> None:
        if not bandwidth > 0 or math.isinf(bandwidth):
            raise ValueError(f"a DRAM channel needs a finite positive bandwidth, got {bandwidth}")
        self.env, self.bandwidth, self.latency = env, bandwidth, latency
        self._port = simpy.Resource(env, capacity=1)

    def seconds(self, size: float) -> float:
        """Cycles ``size`` bytes hold the channel."""
        return size / self.bandwidth

    def serve(self, size: float, then: Callable[[], None] | None = None) -> simpy.Event:
        """Queue a transfer of ``size`` bytes; call ``then()`` when the channel begins it.
        Returns an event that succeeds when the transfer has ended."""
        request, ended = self._port.request(), self.env.event()

        def end(_event) -> None:
            self._port.release(request)
            ended.succeed()

        def begin(_event=None) -> None:
            self.env.timeout(self.seconds(size)).callbacks.append(end)
            if then is not None:
                then()

        if request.triggered:  # the channel is idle: the transfer begins now, before anything else
            begin()
        else:
            request.callbacks.append(begin)
        return ended
