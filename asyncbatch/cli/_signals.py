"""SIGINT and SIGTERM during a run: the first stops the input, the second aborts.

The first signal calls ``on_stop`` (the job reads no more input, lets the chunks in flight
finish and be journaled, then prints its summary); a second one cancels the task that
installed the handlers (the chunks still in flight are dropped unjournaled, and the rerun
sends them again). Installs handlers on the running event loop (I/O: signals).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import TracebackType

__all__ = ["Interrupts"]


class Interrupts:
    """The run's signal handlers, as a context manager entered in the task to abort.

    ``stopping`` is set by the first signal, ``aborted`` by the second. Outside the main
    thread (tests run the command in one) no handler can be installed and signals are left
    to Python's defaults.
    """

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self._on_stop = on_stop
        self.stopping = False
        self.aborted = False
        self._task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._installed: list[signal.Signals] = []

    def _on_signal(self) -> None:
        if not self.stopping:
            self.stopping = True
            self._on_stop()
        elif not self.aborted and self._task is not None:
            self.aborted = True
            self._task.cancel()

    def __enter__(self) -> Interrupts:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal)
            except (ValueError, RuntimeError, NotImplementedError):
                continue  # not the main thread, or not supported here
            self._installed.append(sig)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Remove the handlers; swallow the cancellation this object caused (an abort)."""
        assert self._loop is not None
        for sig in self._installed:
            self._loop.remove_signal_handler(sig)
        self._installed.clear()
        if isinstance(exc, asyncio.CancelledError) and self.aborted and self._task is not None:
            self._task.uncancel()
            return True
        return False
