"""Exponential backoff with full jitter, for throttling and unreachable endpoints."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    attempts: int = 6
    base: float = 0.2
    cap: float = 20.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The sleep before each retry: uniform in [0, min(cap, base * 2**n)]."""
        chooser = rng or random.Random()
        for n in range(self.attempts - 1):
            yield chooser.uniform(0, min(self.cap, self.base * 2**n))
