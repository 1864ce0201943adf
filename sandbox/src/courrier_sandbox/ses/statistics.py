"""v1 ``GetSendStatistics``: the sandbox's own traffic in 15-minute data points.

SES answers with the last two weeks of sending, one data point per 15-minute period with
``DeliveryAttempts``, ``Bounces``, ``Complaints`` and ``Rejects`` (docs/ses.md#sending-at-volume);
periods without traffic have no data point. The counters follow what the sandbox publishes: a
``Send`` event counts its recipients as delivery attempts, a permanent bounce each bounced
recipient, a complaint each complaining recipient, a ``Reject`` one message."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

PERIOD = 15 * 60
KEPT = 14 * 24 * 3600
FIELDS = ("DeliveryAttempts", "Bounces", "Complaints", "Rejects")


@dataclass
class SendStatistics:
    #: Period start (epoch seconds) -> one counter per :data:`FIELDS`.
    periods: dict[int, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, when: float, name: str, amount: int = 1) -> None:
        start = int(when // PERIOD) * PERIOD
        with self._lock:
            counters = self.periods.setdefault(start, [0] * len(FIELDS))
            counters[FIELDS.index(name)] += amount
            for old in [p for p in self.periods if p <= when - KEPT]:
                del self.periods[old]

    def data_points(self, now: float) -> list[dict[str, Any]]:
        with self._lock:
            periods = sorted(self.periods.items())
        return [
            {"Timestamp": float(start), **dict(zip(FIELDS, counters, strict=True))}
            for start, counters in periods
            if start > now - KEPT
        ]

    def feedback(self, kind: str, body: dict[str, Any], recipients: int, when: float) -> None:
        """Count one published event (see the module docstring)."""
        if kind == "Send":
            self.count(when, "DeliveryAttempts", recipients)
        elif kind == "Reject":
            self.count(when, "Rejects")
        elif kind == "Bounce" and body.get("bounceType") == "Permanent":
            self.count(when, "Bounces", len(body.get("bouncedRecipients", [])))
        elif kind == "Complaint":
            self.count(when, "Complaints", len(body.get("complainedRecipients", [])))
