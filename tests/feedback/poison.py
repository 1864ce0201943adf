"""Bodies that must never stop, wedge or corrupt a worker: each is refused on its own.

Found by attacking a running pipeline: deep nesting crashed ``json.loads``, an unpaired
surrogate crashed the write, and over-long or NUL-carrying fields wedged PostgreSQL while
SQLite took them silently.
"""

from __future__ import annotations

import json
from typing import Any

from tests.feedback.test_decode import envelope, sample


def bounce(n: int, **changes: Any) -> dict[str, Any]:
    """A valid Permanent bounce for ``user{n}@example.net`` (facts S1), with ``changes``."""
    payload = sample("S1")
    payload["mail"]["messageId"] = changes.get("ses_id", f"msg-{n}")
    payload["bounce"]["feedbackId"] = changes.get("feedback_id", f"fb-{n}")
    payload["bounce"]["bouncedRecipients"] = [
        {"emailAddress": changes.get("recipient", f"user{n}@example.net")}
    ]
    return payload


def opened(n: int, ip_address: str) -> dict[str, Any]:
    """A valid Open (facts S8) of ``msg-{n}`` from ``ip_address``."""
    payload = sample("S8")
    payload["mail"]["messageId"] = f"msg-{n}"
    payload["open"]["ipAddress"] = ip_address
    return payload


def wrapped(payload: dict[str, Any] | str, **fields: str) -> str:
    outer = json.loads(envelope(payload))
    outer.update(fields)
    return json.dumps(outer)


def poison_bodies(n: int = 0) -> dict[str, str]:
    """Every kind of poison body, by name (``n`` keeps their ids apart between calls)."""
    tag = f"{n}"
    return {
        "deep-body": "[" * 100_000,
        "deep-message": wrapped("[" * 100_000, MessageId=f"deep-{tag}"),
        "deep-but-parsable": wrapped(
            {**bounce(1), "extra": json.loads("[" * 40 + "]" * 40)}, MessageId=f"d40-{tag}"
        ),
        "surrogate-recipient": wrapped(
            bounce(2, recipient="\ud800@example.net"), MessageId=f"sur-{tag}"
        ),
        "surrogate-sns-id": wrapped(bounce(3), MessageId=f"\udfff-{tag}"),
        "nul-recipient": wrapped(bounce(4, recipient="a\x00b@example.net"), MessageId=f"n1-{tag}"),
        "nul-ses-id": wrapped(bounce(5, ses_id="msg\x005"), MessageId=f"n2-{tag}"),
        "nul-feedback-id": wrapped(bounce(6, feedback_id="fb\x006"), MessageId=f"n3-{tag}"),
        "nul-topic": wrapped(bounce(7), MessageId=f"n4-{tag}", TopicArn="arn:aws:sns:\x00"),
        "nul-sns-id": wrapped(bounce(8), MessageId=f"n5\x00{tag}"),
        "nul-open-ip": wrapped(opened(14, "\x00"), MessageId=f"n6-{tag}"),
        "surrogate-open-ip": wrapped(opened(15, "1.2.3.4\ud800"), MessageId=f"sur2-{tag}"),
        "long-sns-id": wrapped(bounce(9), MessageId="s" * 101),
        "long-ses-id": wrapped(bounce(10, ses_id="m" * 101), MessageId=f"l2-{tag}"),
        "long-recipient": wrapped(
            bounce(11, recipient="r" * 310 + "@example.net"), MessageId=f"l3-{tag}"
        ),
        "long-feedback-id": wrapped(bounce(12, feedback_id="f" * 201), MessageId=f"l4-{tag}"),
        "long-topic": wrapped(
            bounce(13), MessageId=f"l5-{tag}", TopicArn="arn:aws:sns:us-east-1:1:" + "t" * 300
        ),
    }
