"""What courrier would do with a decoded body, as plain data (``courrier decode`` prints it)."""

from __future__ import annotations

from typing import Any

from courrier.feedback.decode import Decoded
from courrier.feedback.events import Event
from courrier.feedback.rules import Rules
from courrier.statuses import Action

__all__ = ["explain"]


def explain(decoded: Decoded, rules: Rules | None = None) -> list[dict[str, Any]]:
    """One JSON-ready dict per event, with the action ``rules`` choose for it.

    A body that carries no event (an SNS confirmation, a setup message) gives one entry of
    kind ``Ignored`` whose subtype says why.
    """
    rules = rules or Rules()
    if not decoded.events:
        return [
            {
                **_describe(None, decoded, Action.IGNORE),
                "kind": "Ignored",
                "subtype": decoded.ignored,
            }
        ]
    return [_describe(event, decoded, rules.action(event)) for event in decoded.events]


def _describe(event: Event | None, decoded: Decoded, action: Action) -> dict[str, Any]:
    envelope = decoded.envelope
    return {
        "kind": event.kind if event else None,
        "subtype": event.subtype if event else None,
        "recipient": event.recipient if event else None,
        "ses_message_id": event.ses_message_id if event else None,
        "feedback_id": event.feedback_id if event else None,
        "timestamp": event.timestamp.isoformat() if event and event.timestamp else None,
        "sns_message_id": envelope.message_id if envelope else None,
        "topic_arn": envelope.topic_arn if envelope else None,
        "action": str(action),
    }
