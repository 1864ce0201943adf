"""One send's cost: ``Mailer.send`` against a plain boto3 loop, and the commits each send makes.

One sandbox (``courrier sandbox --production``, its own process, a high max send rate) serves
both loops in the same run. For each store, SQLite (a temporary file) and PostgreSQL (a fresh
schema under ``COURRIER_TEST_POSTGRES_URL``, when set), ``--messages`` one-recipient sends:

* ``boto3``: ``sesv2.send_email`` with the raw MIME courrier renders for the same message
  (rendered before the clock starts);
* ``Mailer.send``: the same messages through the Mailer (building the message, rendering it,
  the suppression check, the store's rate bucket, the record of each send).

The two loops take turns in blocks of ``--block`` sends, so that a machine whose load changes
during the run slows both alike.

Reported: sends a second for each, the ratio, and commits per send, counted by SQLAlchemy on
the store's engine and, on PostgreSQL, by ``pg_stat_database.xact_commit`` too (which counts
every schema of the database: other users of it inflate it). ``commit`` is what one durable
commit costs on that store (a one-row update, timed alone), and ``cap`` the ratio the Mailer
would reach if the two commits of each send were all it added to the boto3 loop: the
fsync (SQLite, ``synchronous=FULL``) or WAL flush (PostgreSQL) of the disk sets it.

With ``--latency 20,5`` the sandbox answers as late as SES does from inside its region, which
shows what the store's work costs beside a real round trip rather than a loopback one.

``--outbox N`` measures the outbox instead: ``--messages`` one-recipient messages queued, then
one :class:`~courrier.sending.OutboxRunner` at ``--concurrency N`` (``courrier outbox run
--concurrency N --until-empty``) against N threads of the plain boto3 loop sharing the
messages, each from start to finish; every message must end ``sent`` and reach the sandbox's
mailbox once.

    python bench/send.py [--messages 300] [--rounds 3] [--block 25] [--latency MS[,JITTER]]
    python bench/send.py --outbox 8 [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
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
from pacing import REGION, SENDER, database, sandbox, unlimited_account


def message(n: int) -> Message:
    return Message(sender=SENDER, to=[f"reader{n}@example.net"], subject=f"n{n}", text="x")


class RawLoop:
    """``sesv2.send_email`` with pre-rendered raw MIME, a block at a time."""

    def __init__(self, url: str, count: int) -> None:
        self.client = boto3.client(
            "sesv2",
            endpoint_url=url,
            region_name=REGION,
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.raws = [render(message(n)) for n in range(count)]
        self.elapsed = 0.0

    def run(self, numbers: range) -> None:
        started = time.perf_counter()
        for n in numbers:
            self.client.send_email(
                FromEmailAddress=SENDER,
                Destination={"ToAddresses": [f"reader{n}@example.net"]},
                Content={"Raw": {"Data": self.raws[n]}},
            )
        self.elapsed += time.perf_counter() - started


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


def commit_seconds(store: Store, count: int = 50) -> float:
    """One durable commit of a one-row update on ``store``, on average."""
    from sqlalchemy import text

    started = time.perf_counter()
    for _ in range(count):
        with store.transaction() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))
    return (time.perf_counter() - started) / count


class MailerLoop:
    """``Mailer.send`` on a fresh store, a block at a time, its commits counted."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import event

        from courrier.aws.ses import SesClient

        self.store = Store(database_url)
        self.mailer = Mailer(
            self.store, SesClient(AwsConfig()), settings=Settings(max_send_rate=100_000.0)
        )
        self.mailer.send(message(-1))  # the bucket row, the connections
        self.commits = 0
        self.elapsed = 0.0
        event.listen(self.store.engine, "commit", self._count)

    def _count(self, _connection: Any) -> None:
        self.commits += 1

    def run(self, numbers: range) -> None:
        started = time.perf_counter()
        for n in numbers:
            self.mailer.send(message(n))
        self.elapsed += time.perf_counter() - started

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.store.engine, "commit", self._count)
        self.store.close()


def one_round(url: str, database_url: str, count: int, block: int) -> str:
    raw = RawLoop(url, count)
    mailer = MailerLoop(database_url)
    try:
        before = xact_commits(mailer.store)
        for start in range(0, count, block):
            numbers = range(start, min(count, start + block))
            raw.run(numbers)
            mailer.run(numbers)
        commits = mailer.commits / count
        pg_text = ""
        if before is not None:
            time.sleep(1.0)  # the statistics collector reports every 500 ms or so
            after = xact_commits(mailer.store)
            assert after is not None
            pg_text = f", pg_stat {(after - before) / count:.2f}"
        commit = commit_seconds(mailer.store)
    finally:
        mailer.close()
    raw_rate, mailer_rate = count / raw.elapsed, count / mailer.elapsed
    per_raw = raw.elapsed / count
    cap = per_raw / (per_raw + 2 * commit)
    return (
        f"boto3 {raw_rate:7.1f}/s  Mailer.send {mailer_rate:7.1f}/s"
        f"  ratio {mailer_rate / raw_rate:.2f}  commits/send {commits:.2f}{pg_text}"
        f"  commit {commit * 1000:.2f} ms  cap {cap:.2f}"
    )


def raw_threads(url: str, count: int, threads: int) -> float:
    """Seconds for ``threads`` plain boto3 loops to send ``count`` messages between them."""
    loops = [RawLoop(url, count) for _ in range(threads)]
    workers = [
        threading.Thread(target=loop.run, args=(range(n, count, threads),))
        for n, loop in enumerate(loops)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def outbox_run(database_url: str, count: int, concurrency: int) -> tuple[float, int]:
    """Seconds for one runner at ``concurrency`` to send ``count`` queued messages, and how
    many ended ``sent``."""
    from courrier.aws.ses import SesClient
    from courrier.sending.outbox import OutboxRunner, enqueue_many
    from courrier.statuses import RunOutcome

    store = Store(database_url)
    try:
        mailer = Mailer(store, SesClient(AwsConfig()), settings=Settings(max_send_rate=100_000.0))
        enqueue_many(store, [(message(n), None) for n in range(count)])
        runner = OutboxRunner(mailer, concurrency=concurrency, batch=10)
        started = time.perf_counter()
        report = runner.run(until_empty=True)
        return time.perf_counter() - started, report.outcomes.get(RunOutcome.SENT, 0)
    finally:
        store.close()


def outbox_round(url: str, database_url: str, count: int, concurrency: int) -> str:
    raw = raw_threads(url, count, concurrency)
    runner, sent = outbox_run(database_url, count, concurrency)
    if sent != count:
        raise SystemExit(f"the runner sent {sent} of {count} messages")
    return (
        f"boto3 x{concurrency} {count / raw:7.1f}/s  outbox run --concurrency {concurrency}"
        f" {count / runner:7.1f}/s  ratio {raw / runner:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument(
        "--latency",
        metavar="MS[,JITTER]",
        help="delay each of the sandbox's answers, as SES's own round trip would (20,5)",
    )
    parser.add_argument(
        "--outbox",
        type=int,
        metavar="N",
        help="time one outbox runner at --concurrency N against N boto3 threads",
    )
    args = parser.parse_args()
    stores = ["sqlite"] + (["postgresql"] if os.environ.get("COURRIER_TEST_POSTGRES_URL") else [])
    with sandbox(100_000.0, args.latency) as url:
        unlimited_account(url)
        for kind in stores:
            saved = os.environ.pop("COURRIER_TEST_POSTGRES_URL", None) if kind == "sqlite" else None
            try:
                for round_ in range(1, args.rounds + 1):
                    with database() as database_url:
                        if args.outbox:
                            line = outbox_round(url, database_url, args.messages, args.outbox)
                        else:
                            line = one_round(url, database_url, args.messages, args.block)
                    print(f"{kind:10} round {round_}: {line}", flush=True)
            finally:
                if saved is not None:
                    os.environ["COURRIER_TEST_POSTGRES_URL"] = saved


if __name__ == "__main__":
    main()
