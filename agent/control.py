"""Control flow of the loop, by exceptions that carry their reason.

Like mini-swe-agent, the loop stays a plain ``while True`` and anything that
changes its course is raised from where it is noticed:

- ``Replan(reason)``: the plan no longer fits (a repeated tool call, a
  reflection that says so); the loop catches it and plans again.
- ``BudgetExhausted(reason, message)``: ``max_steps``, ``max_tokens`` or
  ``timeout`` is spent; the run ends cleanly with the best answer so far.
- ``Interrupted``: ``Agent.stop()`` was called (or Ctrl-C); the run ends at the
  next phase boundary.

``Budget`` holds the limits and raises these at phase boundaries.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


class Replan(Exception):
    """The plan must change; ``reason`` is shown to the model and in the trace."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BudgetExhausted(Exception):
    """A budget ended the run. ``reason`` is the Result's stop_reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # max_steps | max_tokens | timeout
        self.message = message


class Interrupted(Exception):
    """Agent.stop() was called: end the run at this phase boundary."""


@dataclass
class Budget:
    """Per-run limits. ``max_steps`` counts tool calls; ``max_tokens`` counts
    completion tokens; ``timeout`` is wall-clock seconds from ``start``."""

    max_steps: int = 12
    max_tokens: int | None = None
    timeout: float | None = None
    start: float = field(default_factory=time.monotonic)
    stop_flag: threading.Event = field(default_factory=threading.Event)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining_seconds(self) -> float | None:
        return None if self.timeout is None else max(self.timeout - self.elapsed(), 0.0)

    def check(self, completion_tokens: int) -> None:
        """Raise if the run must end now (called before every model call)."""
        if self.stop_flag.is_set():
            raise Interrupted("stopped by the user")
        if self.timeout is not None and self.elapsed() >= self.timeout:
            raise BudgetExhausted("timeout", f"the {self.timeout:g} s timeout was reached")
        if self.max_tokens is not None and completion_tokens >= self.max_tokens:
            raise BudgetExhausted(
                "max_tokens", f"{completion_tokens} of {self.max_tokens} completion tokens were used")

    def steps_left(self, steps: int) -> bool:
        return steps < self.max_steps


_DONE = object()


def run_streaming(work: Callable[[Callable[[Any], None]], None], stop: Callable[[], None]) -> Iterator[Any]:
    """Run ``work(emit)`` in a worker thread and yield what it emits, with
    generator semantics: ``emit`` returns only once the consumer asks for the
    next item, so the run never gets ahead of the one reading its events.

    If the consumer leaves early (break, or an exception in its loop body),
    ``stop()`` is called and the worker finishes on its own. Ctrl-C while
    waiting for an item calls ``stop()`` and keeps reading until the end.
    An exception raised by ``work`` is re-raised in the consumer.
    """
    items: queue.SimpleQueue = queue.SimpleQueue()
    taken = threading.Semaphore(0)
    detached = threading.Event()

    def emit(item: Any) -> None:
        items.put(item)
        while not detached.is_set() and not taken.acquire(timeout=0.05):
            pass

    def target() -> None:
        try:
            work(emit)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            items.put(e)
        finally:
            items.put(_DONE)

    worker = threading.Thread(target=target, name="ponder-agent", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = items.get()
            except KeyboardInterrupt:
                stop()
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            taken.release()
    finally:
        detached.set()
        if worker.is_alive():
            stop()
        worker.join()
