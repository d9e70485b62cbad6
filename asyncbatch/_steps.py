"""Stepped computations: work written as a generator that yields between steps, run to its end
at once (``run_steps``) or on an event loop with a turn for the loop after each slice of work
(``cooperatively``). No I/O; ``cooperatively`` only gives the event loop turns.

Planning (``_plan``), merging (``_merge``), freeing a finished call's plan (``_schedule``) and
building a result's objects (``BatchResult.load``) are all written this way, so one rule says
how long the client holds the loop: ``SLICE_SECONDS``. ``LoopTurns`` applies the same rule to
a list call's workers, whose awaits may all complete at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TypeAlias, TypeVar

import anyio.lowlevel

__all__ = ["SLICE_SECONDS", "STEP", "LoopTurns", "Steps", "cooperatively", "run_steps"]

T = TypeVar("T")

#: Records (or items) processed between two steps of a stepped computation: a small part of a
#: slice, so a driver on an event loop can give the loop a turn.
STEP = 32

#: A computation that yields between steps and returns its value (see ``run_steps``).
Steps: TypeAlias = Generator[None, None, T]

#: The longest a stepped computation holds the event loop at once. A timer that falls due
#: meanwhile (a server's other work) waits for the rest of this pass of the loop and for what
#: was queued ahead of it in the next, two or three slices: at 2 ms a 1 ms ticker's p99 stall
#: during upsert() of 1,000,000 records was 6.0-6.3 ms, at 1 ms 2.8-3.3 ms.
SLICE_SECONDS = 0.001


def run_steps(steps: Steps[T]) -> T:
    """Run a stepped computation to its end at once (the synchronous way)."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def cooperatively(steps: Steps[T]) -> T:
    """Run a stepped computation, giving the event loop a turn whenever it has worked
    ``SLICE_SECONDS``: a million records are planned without stalling a web server's other
    requests."""
    deadline = time.perf_counter() + SLICE_SECONDS
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if time.perf_counter() >= deadline:
            await anyio.lowlevel.checkpoint()
            deadline = time.perf_counter() + SLICE_SECONDS


class LoopTurns:
    """For tasks whose awaits may all complete without waiting (a transport that answers in
    the caller's own callback, as ``MockTransport`` does): ``await turns.give()`` before each
    unit of work gives the event loop a turn once it has had none for ``SLICE_SECONDS``.
    Whether it had one is known, not guessed: a marker the loop runs (``call_soon``) says so.
    Tasks sharing one (a call's workers) share the slice: once it is spent, none works on
    until the loop had its turn (a slice each let twelve workers hold the loop 22 ms a pass).
    Over a socket every unit waits for its answer, so the marker has run and ``give`` costs a
    clock read and a ``call_soon``. (Without it, a call on an endpoint already answered, which
    opens without a canary, sent and merged 100,000 records through ``MockTransport`` in one
    callback: 452 ms.)"""

    __slots__ = ("_deadline", "_turned")

    def __init__(self) -> None:
        self._turned = True
        self._deadline = 0.0

    async def give(self) -> None:
        while not self._turned:
            if time.perf_counter() < self._deadline:
                return
            # Tasks sharing this (a call's workers) wait until the marker has run: a worker
            # resumed after the others used the slice does no work before the next turn.
            await anyio.lowlevel.checkpoint()
        self._turned = False
        self._deadline = time.perf_counter() + SLICE_SECONDS
        asyncio.get_running_loop().call_soon(self._mark)

    def _mark(self) -> None:
        self._turned = True
