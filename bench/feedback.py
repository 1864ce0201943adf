"""Feedback throughput: decoding, and applying in batches of 10, against same-run baselines.

* decode: ``courrier.decode`` on SNS envelopes (JSON inside JSON) vs the floor of that work,
  two ``json.loads`` per body;
* apply: ``courrier.feedback.apply.apply`` (exactly-once claims, rules, suppressions) vs
  plain INSERTs of the same rows in batches of 10, on SQLite and, when
  ``COURRIER_TEST_POSTGRES_URL`` is set, PostgreSQL.

    python bench/feedback.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable

from sqlalchemy import insert

from courrier.feedback import decode
from courrier.feedback.apply import apply
from courrier.store import Store
from courrier.store.tables import FeedbackEventRow, utcnow

KINDS = ("Bounce", "Complaint", "Delivery")


def bodies(count: int, start: int = 0) -> list[str]:
    """``count`` SNS envelopes of SES notifications, numbered from ``start`` (ids unique)."""
    out = []
    for n in range(start, start + count):
        kind = KINDS[n % 3]
        mail = {
            "messageId": f"m-{n}",
            "timestamp": "2024-05-14T09:12:01.877Z",
            "source": "a@example.com",
            "destination": [f"r{n}@example.net"],
        }
        body: dict[str, object] = {"notificationType": kind, "mail": mail}
        if kind == "Bounce":
            body["bounce"] = {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": f"fb-{n}",
                "timestamp": "2024-05-14T09:12:03Z",
                "bouncedRecipients": [{"emailAddress": f"r{n}@example.net"}],
            }
        elif kind == "Complaint":
            body["complaint"] = {
                "feedbackId": f"fb-{n}",
                "complaintFeedbackType": "abuse",
                "timestamp": "2024-05-14T09:12:03Z",
                "complainedRecipients": [{"emailAddress": f"r{n}@example.net"}],
            }
        else:
            body["delivery"] = {
                "timestamp": "2024-05-14T09:12:03Z",
                "recipients": [f"r{n}@example.net"],
                "smtpResponse": "250 ok",
            }
        out.append(
            json.dumps(
                {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": "arn:aws:sns:us-east-1:1:t",
                    "Message": json.dumps(body),
                }
            )
        )
    return out


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def bench_decode(samples: list[str]) -> None:
    floor = timed(lambda: [json.loads(json.loads(b)["Message"]) for b in samples])
    full = timed(lambda: [decode(b) for b in samples])
    print(
        f"decode          {len(samples) / full:>9.0f} msg/s   "
        f"{full / floor:.1f}x the time of two json.loads per body"
    )


def bench_apply(name: str, url: str, samples: list[str]) -> None:
    decoded = [decode(b) for b in samples]
    store = Store(url)
    rows = [
        {
            "event_key": e.key,
            "kind": e.kind,
            "subtype": e.subtype,
            "recipient": e.recipient,
            "ses_message_id": e.ses_message_id,
            "action": "record",
            "payload": "{}",
            "received_at": utcnow(),
            "occurred_at": e.timestamp,
        }
        for d in decoded
        for e in d.events
    ]

    def plain() -> None:
        for start in range(0, len(rows), 10):
            with store.transaction() as session:
                session.execute(insert(FeedbackEventRow), rows[start : start + 10])

    baseline = timed(plain)
    with store.transaction() as session:
        session.query(FeedbackEventRow).delete()

    def applied() -> None:
        for start in range(0, len(decoded), 10):
            apply(store, decoded[start : start + 10])

    full = timed(applied)
    again = timed(applied)  # every message a duplicate now
    store.close()
    print(
        f"apply {name:<9} {len(samples) / full:>9.0f} msg/s   "
        f"{full / baseline:.1f}x plain inserts; redelivered: {len(samples) / again:.0f} msg/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    samples = bodies(args.messages)
    bench_decode(samples)
    with tempfile.TemporaryDirectory() as folder:
        bench_apply("sqlite", f"sqlite:///{folder}/bench.db", samples)
    postgres = os.environ.get("COURRIER_TEST_POSTGRES_URL")
    if postgres:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            bench_apply("postgres", f"{postgres}?options=-csearch_path%3D{schema}", samples)
        finally:
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
