"""Exponential backoff: the one copy, for the sender's retries and the worker's.

A top-level module so that ``sending`` and ``feedback`` may both use it without either
importing the other.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """``attempts`` tries in all; the wait before retry ``n`` (from 0) is at most
    ``min(cap, base * 2**n)``.

    ``jitter``: "full" waits uniformly in [0, that] (many clients throttled together spread
    out: https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), "equal"
    in [half of it, all of it] (a row must not come back at once), "none" exactly that.
    """

    attempts: int = 6
    base: float = 0.2
    cap: float = 20.0
    jitter: Literal["full", "equal", "none"] = "full"

    def ceiling(self, n: int) -> float:
        """The longest wait before retry ``n``."""
        return float(min(self.cap, self.base * 2 ** min(n, 64)))

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        """The wait before retry ``n``."""
        ceiling = self.ceiling(n)
        if self.jitter == "none":
            return ceiling
        chooser = rng or random
        return chooser.uniform(0 if self.jitter == "full" else ceiling / 2, ceiling)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The wait before each retry, ``attempts - 1`` of them."""
        chooser = rng or random.Random()
        for n in range(self.attempts - 1):
            yield self.delay(n, chooser)
