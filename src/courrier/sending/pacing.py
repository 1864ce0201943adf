"""Never call SES faster than the account's max send rate, counted in recipients.

SES counts the rate in recipients, not messages (docs/ses.md#limits), and drops what goes over it
rather than queueing it. One :class:`Pacer` per SES endpoint and region is shared by every
thread of the process (:func:`pacer_for`), so threads sending at once stay under the rate
together. This is ``send_rate_scope = "process"``: right for a single sending process; the
default shares the rate with every process through the store (:mod:`.limiter`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from courrier.clock import Clock, Sleep

__all__ = ["Pacer", "pacer_for"]


class Pacer:
    """At most ``rate`` recipients in any window of one second (plus a safety margin).

    A sliding window rather than a token bucket: it stays under the limit whether SES counts
    per second or over a rolling second, and network jitter gets ``margin`` seconds of slack.
    """

    def __init__(
        self,
        rate: float,
        *,
        margin: float = 0.05,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._window = 1.0 + margin
        self._sent: deque[tuple[float, float]] = deque()
        self._in_window = 0.0
        self.rate = rate

    def set_rate(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        with self._lock:
            self.rate = rate

    def acquire(self, recipients: int) -> float:
        """Block until ``recipients`` may be sent; returns the seconds waited.

        A message with more recipients than the rate waits for an empty window and then
        goes alone, so it is never refused for its size.
        """
        need = float(recipients)
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0][0] <= now - self._window:
                    self._in_window -= self._sent.popleft()[1]
                if not self._sent or self._in_window + need <= self.rate:
                    self._sent.append((now, need))
                    self._in_window += need
                    return waited
                delay = self._sent[0][0] + self._window - now
            self._sleep(max(delay, 0.001))
            waited += max(delay, 0.001)


_pacers: dict[tuple[str, str], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(endpoint: str, region: str, rate: Callable[[], float]) -> Pacer:
    """The process-wide pacer of one SES endpoint and region; ``rate`` is read once."""
    key = (endpoint, region)
    with _pacers_lock:
        found = _pacers.get(key)
        if found is None:
            found = _pacers[key] = Pacer(rate())
        return found
