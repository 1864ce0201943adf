"""One send's cost: ``Mailer.send`` against a plain boto3 loop, and the commits each send makes.

One sandbox (``courrier sandbox --production``, its own process, a high max send rate) serves
both loops in the same run. For each store, SQLite (a temporary file) and PostgreSQL (a fresh
schema under ``COURRIER_TEST_POSTGRES_URL``, when set), ``--messages`` one-recipient sends:

* ``boto3``: ``sesv2.send_email`` with the raw MIME courrier renders for the same message;
* ``Mailer.send``: the same messages through the Mailer (suppression check, the store's rate
  bucket, the record of each send).

Reported: sends a second for each, the ratio, and commits per send, counted by SQLAlchemy on
the store's engine and, on PostgreSQL, by ``pg_stat_database.xact_commit`` too.

    python bench/send.py [--messages 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))

from courrier.aws.clients import AwsConfig
from courrier.message import Message
from courrier.mime import render
from courrier.sending import Mailer
from courrier.settings import Settings
from courrier.store import Store
from pacing import REGION, SENDER, control, database, sandbox


def message(n: int) -> Message:
    return Message(sender=SENDER, to=[f"reader{n}@example.net"], subject=f"n{n}", text="x")


def raw_loop(url: str, count: int) -> float:
    client = boto3.client(
        "sesv2",
        endpoint_url=url,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )
    raws = [render(message(n)) for n in range(count)]
    started = time.perf_counter()
    for n, raw in enumerate(raws):
        client.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [f"reader{n}@example.net"]},
            Content={"Raw": {"Data": raw}},
        )
    return count / (time.perf_counter() - started)


def xact_commits(store: Store) -> int | None:
    if store.dialect != "postgresql":
        return None
    with store.engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        found = connection.exec_driver_sql(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).scalar()
        connection.rollback()
    return int(found or 0)


def mailer_loop(database_url: str, count: int) -> tuple[float, float, float | None]:
    from sqlalchemy import event

    from courrier.aws.ses import SesClient

    store = Store(database_url)
    mailer = Mailer(store, SesClient(AwsConfig()), settings=Settings(max_send_rate=100_000.0))
    mailer.send(message(-1))  # the bucket row, the connections
    commits = [0]

    def count_commit(_connection: Any) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", count_commit)
    before = xact_commits(store)
    started = time.perf_counter()
    for n in range(count):
        mailer.send(message(n))
    rate = count / (time.perf_counter() - started)
    event.remove(store.engine, "commit", count_commit)
    pg = None
    if before is not None:
        time.sleep(1.0)  # the statistics collector reports every 500 ms or so
        after = xact_commits(store)
        assert after is not None
        pg = (after - before) / count
    store.close()
    return rate, commits[0] / count, pg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stores = ["sqlite"] + (["postgresql"] if os.environ.get("COURRIER_TEST_POSTGRES_URL") else [])
    with sandbox(100_000.0) as url:
        os.environ["AWS_ENDPOINT_URL"] = url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        control(url, "POST", "/account", {"max_send_rate": 100_000.0, "production": True})
        boto3.client("ses", endpoint_url=url, region_name=REGION).verify_email_identity(
            EmailAddress=SENDER
        )
        for kind in stores:
            saved = os.environ.pop("COURRIER_TEST_POSTGRES_URL", None) if kind == "sqlite" else None
            try:
                for round_ in range(1, args.rounds + 1):
                    with database() as database_url:
                        raw = raw_loop(url, args.messages)
                        rate, commits, pg = mailer_loop(database_url, args.messages)
                    pg_text = f", pg_stat {pg:.2f}" if pg is not None else ""
                    print(
                        f"{kind:10} round {round_}: boto3 {raw:7.1f}/s  Mailer.send {rate:7.1f}/s"
                        f"  ratio {rate / raw:.2f}  commits/send {commits:.2f}{pg_text}",
                        flush=True,
                    )
            finally:
                if saved is not None:
                    os.environ["COURRIER_TEST_POSTGRES_URL"] = saved


if __name__ == "__main__":
    main()
