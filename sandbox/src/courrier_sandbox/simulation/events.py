"""Every event SES recorded for the sandbox's sends, whether or not a topic received it.

SES publishes an event only where a configuration set or an identity sends it (SNS, and
from there SQS); a test that only wants to know what happened to a message should not have
to build that pipeline. The log is what ``GET /_courrier/events`` and the pytest plugin's
``ses_sandbox.events()`` answer with, oldest first; it keeps the most recent events only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

#: Enough for any test run; older events fall off rather than the sandbox growing.
KEPT = 10_000


@dataclass(frozen=True)
class Event:
    """One event: ``kind`` is SES's event type name (``Send``, ``Delivery``, ``Bounce``, ...),
    ``body`` its type-specific object as SES publishes it (``bounce``, ``delivery``, ...)."""

    kind: str
    message_id: str
    account: str
    region: str
    source: str
    destinations: list[str]
    configuration_set: str | None
    recorded_at: float
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class EventLog:
    """The most recent :data:`KEPT` events, safe from the scheduler's and server's threads."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=KEPT)
        self._lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def list(self, kind: str | None = None, message_id: str | None = None) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self._events
                if (kind is None or e.kind == kind)
                and (message_id is None or e.message_id == message_id)
            ]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


def now() -> float:
    """The time an event is recorded at (seconds since the epoch)."""
    return time.time()
