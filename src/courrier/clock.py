"""Time as the pacer, the shared limiter, the guard, metrics and the worker take it.

Each of them reads a clock and waits through a sleep that it is handed, defaulting to
``time.monotonic`` and ``time.sleep``; these protocols name the two shapes, so that a stand-in
(a test's clock that moves only when told) is checked against them like any other argument.
Imports nothing of courrier: every layer may use it.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock", "Sleep"]


class Clock(Protocol):
    """Seconds on a clock that never goes back (``time.monotonic``); only differences count."""

    def __call__(self) -> float: ...


class Sleep(Protocol):
    """Waits ``seconds`` (``time.sleep``); what it returns is ignored."""

    def __call__(self, seconds: float, /) -> object: ...
