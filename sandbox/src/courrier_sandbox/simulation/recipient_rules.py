"""Recipients that behave like a slow, full or hostile mail server: ``/_courrier/recipients``.

The mailbox simulator (docs/ses.md#mailbox-simulator) has no address for a slow delivery, and its
bounces and complaints never reach the suppression list. A rule makes any address matching a pattern
(``fnmatch``, case-insensitive: ``slow*@example.com``) do what real servers do:

* ``delay``: a ``DeliveryDelay`` event (event publishing only, docs/ses.md#event-publishing), then,
  ``after`` seconds later, the delivery (``then: "delivery"``) or the ``Transient`` bounce SES sends
  when it stops retrying (``then: "bounce"``, docs/ses.md#notifications);
* ``bounce``: a ``Permanent``/``General`` bounce, 5.1.1;
* ``complaint``: a delivery, then an ``abuse`` complaint.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

#: ``delayType`` values (docs/ses.md#event-publishing: an open set, put together from code citing
#: AWS's page).
DELAY_TYPES = (
    "InternalFailure",
    "General",
    "MailboxFull",
    "SpamDetected",
    "RecipientServerError",
    "IPFailure",
    "TransientCommunicationFailure",
    "BYOIPHostNameLookupUnavailable",
    "Undetermined",
    "SendingDeferral",
)
OUTCOMES = ("delay", "bounce", "complaint")
#: What the remote server answered, by delay type (the sandbox's wording, in the SMTP
#: shape of a DeliveryDelay event's ``delayedRecipients[].diagnosticCode``).
_DELAY_ANSWERS = {
    "TransientCommunicationFailure": ("4.4.1", "smtp; 421 4.4.1 Unable to connect to remote host"),
    "MailboxFull": ("4.2.2", "smtp; 452 4.2.2 Mailbox full"),
    "SpamDetected": ("4.7.1", "smtp; 421 4.7.1 Message deferred: too much unsolicited mail"),
    "IPFailure": ("4.7.0", "smtp; 421 4.7.0 Sending IP temporarily blocked"),
    "RecipientServerError": ("4.3.0", "smtp; 451 4.3.0 Temporary server error"),
}
_TEMPORARY = ("4.0.0", "smtp; 451 4.0.0 Temporary failure, try again later")
_BOUNCE = ("5.1.1", "smtp; 550 5.1.1 user unknown")


@dataclass(frozen=True)
class RecipientRule:
    pattern: str
    outcome: str
    delay_type: str = "TransientCommunicationFailure"
    then: str = "delivery"
    after: float = 1.0
    status: str = ""
    diagnostic_code: str = ""

    def matches(self, address: str) -> bool:
        return fnmatch.fnmatchcase(address.lower(), self.pattern.lower())

    @classmethod
    def from_json(cls, body: Any) -> RecipientRule:
        """A rule from a page's JSON body; ValueError says what is wrong."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        known = {"pattern", "outcome", "delay_type", "then", "after", "status", "diagnostic_code"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(unknown)}")
        pattern, outcome = body.get("pattern"), body.get("outcome", "delay")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValueError("pattern must be an address or a pattern such as *@slow.example.com")
        _choice("outcome", outcome, OUTCOMES)
        delay_type = body.get("delay_type", "TransientCommunicationFailure")
        _choice("delay_type", delay_type, DELAY_TYPES)
        then = body.get("then", "delivery")
        _choice("then", then, ("delivery", "bounce"))
        after = body.get("after", 1.0)
        if (
            isinstance(after, bool)
            or not isinstance(after, int | float)
            or not math.isfinite(after)
            or not 0 <= after <= 3600
        ):
            raise ValueError("after must be a number of seconds, 0 to 3600")
        default = _BOUNCE if outcome == "bounce" else _DELAY_ANSWERS.get(delay_type, _TEMPORARY)
        status = body.get("status", default[0])
        diagnostic = body.get("diagnostic_code", default[1])
        if not isinstance(status, str) or not isinstance(diagnostic, str):
            raise ValueError("status and diagnostic_code must be strings")
        return cls(pattern.strip(), outcome, delay_type, then, float(after), status, diagnostic)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


class RecipientRules:
    """The rules in force, the most recent first; shared by every account and region."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[RecipientRule] = []

    def add(self, rule: RecipientRule) -> None:
        with self._lock:
            self._rules.insert(0, rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def to_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def match(self, address: str) -> RecipientRule | None:
        with self._lock:
            return next((rule for rule in self._rules if rule.matches(address)), None)
