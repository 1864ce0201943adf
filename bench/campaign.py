"""A templated campaign through the outbox: how many SendBulkEmail calls it costs.

One sandbox (``courrier sandbox --production``, its own process, a high max send rate) and
a fresh store (PostgreSQL under ``COURRIER_TEST_POSTGRES_URL``, else a SQLite file): one
template, ``--recipients`` destinations queued with ``Mailer.enqueue_bulk``, then one
``OutboxRunner`` (``courrier outbox run --until-empty``) at ``--concurrency``.

Reported: the SendBulkEmail calls the sandbox counted (SES takes 50 destinations a call, so
the floor is recipients / 50), the rows the runner put back (throttled or unanswered, each
a retried call at most), the seconds, and whether every row ended ``sent`` with its
recipient's record. Exit status 1 when the calls exceed the floor plus the retries, or a
row or a record is missing.

    python bench/campaign.py [--recipients 5000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).parent))

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.sending import Mailer
from courrier.sending.bulk import MAX_BULK_ENTRIES
from courrier.sending.outbox import OutboxRunner
from courrier.settings import Settings
from courrier.statuses import RunOutcome
from courrier.store import Store
from courrier.store import outbox as rows
from courrier.template_message import BulkDestination
from pacing import REGION, SENDER, control, database, sandbox, unlimited_account

UNSUBSCRIBE = {
    "unsubscribe_url": "https://mail.example.com/unsubscribe",
    "unsubscribe_secret": "bench-unsubscribe-secret-0123456789",
}


def campaign(url: str, database_url: str, recipients: int, concurrency: int) -> bool:
    store = Store(database_url)
    try:
        settings = Settings(max_send_rate=100_000.0, **UNSUBSCRIBE)
        mailer = Mailer(store, SesClient(AwsConfig(read_timeout=30)), settings=settings)
        destinations = [
            BulkDestination(f"reader{n}@example.net", {"name": f"r{n}"}) for n in range(recipients)
        ]
        before = control(url, "GET", "/throttles")["bulk_calls"]
        mailer.enqueue_bulk("news", destinations, sender=SENDER, key=f"bench-{time.time()}")
        started = time.perf_counter()
        report = OutboxRunner(mailer, concurrency=concurrency).run(until_empty=True)
        seconds = time.perf_counter() - started
        calls = control(url, "GET", "/throttles")["bulk_calls"] - before
        retried = report.outcomes.get(RunOutcome.REQUEUED, 0)
        entries = rows.entries(store, limit=recipients + 1)
        sent = [e for e in entries if e.status == "sent"]
        recorded = sum(
            1
            for e in sent
            if e.message_id is not None
            and (record := store.message(e.message_id)) is not None
            and record.status == "sent"
        )
        floor = math.ceil(recipients / MAX_BULK_ENTRIES)
        print(
            f"{store.dialect:10} {recipients} recipients: {calls} SendBulkEmail calls"
            f" (floor {floor}, rows put back {retried}), {seconds:.1f} s,"
            f" {len(sent)} sent, {recorded} recorded",
            flush=True,
        )
        return calls <= floor + retried and len(sent) == recorded == recipients
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with sandbox(100_000.0) as url:
        unlimited_account(url)
        boto3.client("sesv2", endpoint_url=url, region_name=REGION).create_email_template(
            TemplateName="news", TemplateContent={"Subject": "Hi {{name}}", "Text": "{{name}}"}
        )
        with database() as database_url:
            ok = campaign(url, database_url, args.recipients, args.concurrency)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
