"""Feedback worker throughput against the seed-style loop, on the same sandbox in the same run.

SES notifications (SNS envelopes, a third each bounce, complaint, delivery) are put on a
queue of ``courrier sandbox`` (its own process, with ``--latency``), then drained:

* baseline: the seed article's loop: one message per ReceiveMessage, ``json.loads`` twice,
  one INSERT + commit (sqlite3, its defaults) and one DeleteMessage per message. Its cost is
  flat per message, so it runs on a sample (``--baseline-messages``) and its rate is compared;
* courrier: ``courrier worker --until-idle --wait 0`` (default concurrency) into SQLite,
  timed from process start to exit (its start-up, about a second, included).

Both poll with ``WaitTimeSeconds=0``: a drain's last, empty, long poll would add its whole
wait to either figure.

Checked after each drain: every event stored exactly once, the queue empty. Targets: at least
10x the baseline's rate at 0 ms and 40x at 20 ms.

``--postgres`` (needs ``COURRIER_TEST_POSTGRES_URL``): one worker process, then four, draining
into one PostgreSQL store (a private schema, dropped after) at 20 ms, at the default
concurrency (8) and at 1; target: four reach 3x one worker's rate, with exactly the
messages' events stored.

``--soak``: 200,000 notifications through one worker at 0 ms, fed in chunks while it runs;
its RSS printed as it goes; targets: peak under 120 MB, growth after the first 20,000 under
10 MB.

    python bench/worker.py [--messages 10000] [--baseline-messages 1000]
    python bench/worker.py --postgres [--messages 20000]
    python bench/worker.py --soak [--messages 200000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from sqlalchemy import func, select

from courrier.store import Store
from courrier.store.tables import FeedbackEventRow, SnsReceiptRow
from feedback import bodies

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok' if ok else 'FAILED'}: {what}")
    if not ok:
        failures.append(what)


@contextlib.contextmanager
def sandbox(latency_ms: int) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "courrier", "sandbox", "--port", str(port)]
        + (["--latency", str(latency_ms)] if latency_ms else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/_courrier/health", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the sandbox did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def sqs_client(url: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=16, retries={"mode": "standard"}),
    )


def new_queue(sqs: Any) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    return str(
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    )


def fill(sqs: Any, queue: str, messages: Sequence[str]) -> None:
    def send(start: int) -> None:
        entries = [
            {"Id": str(n), "MessageBody": body}
            for n, body in enumerate(messages[start : start + 10])
        ]
        failed = sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"send failed: {failed}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(0, len(messages), 10)))


def depth(sqs: Any, queue: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    return sum(int(found[name]) for name in names)


def baseline(sqs: Any, queue: str, path: str) -> tuple[float, int]:
    """The seed-style loop; its elapsed seconds and the rows it stored."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (sns_id TEXT PRIMARY KEY, kind TEXT, body TEXT)")
    started = time.perf_counter()
    while True:
        found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0)
        messages = found.get("Messages", [])
        if not messages:
            break
        message = messages[0]
        envelope = json.loads(message["Body"])
        payload = json.loads(envelope["Message"])
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?)",
            (envelope["MessageId"], payload["notificationType"], envelope["Message"]),
        )
        db.commit()
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    elapsed = time.perf_counter() - started
    rows = int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    db.close()
    return elapsed, rows


def start_worker(url: str, queue: str, database_url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL": url, "COURRIER_DATABASE_URL": database_url}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "courrier", "worker", "--queue-url", queue),
            *("--until-idle", "--wait", "0", *extra),
            # The sandbox's SNS signs with certificates AWS does not serve.
            "--no-verify-signatures",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, int]:
    _, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the worker failed:\n{err}")
    stats: dict[str, int] = json.loads(err.strip().splitlines()[-1])
    return stats


def stored(database_url: str) -> tuple[int, int]:
    """Events and applied SNS messages in the store."""
    store = Store(database_url, migrate=False)
    try:
        with store.transaction(read_only=True) as session:
            events = session.scalar(select(func.count()).select_from(FeedbackEventRow))
            receipts = session.scalar(select(func.count()).select_from(SnsReceiptRow))
        return int(events or 0), int(receipts or 0)
    finally:
        store.close()


def prepared(database_url: str) -> str:
    Store(database_url).close()  # migrated before the clock starts
    return database_url


# ------------------------------------------------------------------ courrier vs baseline


def versus_baseline(messages: int, baseline_messages: int, folder: str) -> None:
    samples = bodies(messages)
    print(
        f"{'latency':>8} {'baseline msg/s':>15} {'courrier msg/s':>15} {'ratio':>7} {'target':>7}"
    )
    results = []
    for latency, target in ((0, 10.0), (20, 40.0)):
        with sandbox(latency) as url:
            sqs = sqs_client(url)
            queue = new_queue(sqs)
            sample = bodies(baseline_messages)
            fill(sqs, queue, sample)
            base_seconds, base_rows = baseline(sqs, queue, f"{folder}/seed-{latency}.db")
            base_rate = baseline_messages / base_seconds

            queue = new_queue(sqs)
            fill(sqs, queue, samples)
            database_url = prepared(f"sqlite:///{folder}/courrier-{latency}.db")
            started = time.perf_counter()
            stats = finish(start_worker(url, queue, database_url))
            seconds = time.perf_counter() - started
            rate = messages / seconds
            events, receipts = stored(database_url)
            left = depth(sqs, queue)
        results.append((latency, base_rate, rate, target, base_rows, events, receipts, left))
        print(
            f"{latency:>6}ms {base_rate:>15.0f} {rate:>15.0f} {rate / base_rate:>6.1f}x "
            f"{target:>6.0f}x   (baseline on {baseline_messages:,} messages, {base_seconds:.1f} s; "
            f"courrier on {messages:,}, {seconds:.1f} s, {stats['transactions']} transactions)"
        )
    for latency, base_rate, rate, target, base_rows, events, receipts, left in results:
        print(f"{latency} ms:")
        check(base_rows == baseline_messages, f"baseline stored {base_rows} of {baseline_messages}")
        check(
            events == receipts == messages,
            f"courrier stored {events} events from {receipts} SNS messages, once each",
        )
        check(left == 0, f"queue empty ({left} left)")
        check(rate / base_rate >= target, f"{rate / base_rate:.1f}x >= {target:.0f}x")


# ------------------------------------------------------------------ PostgreSQL, 1 vs 4


def postgres(messages: int, concurrencies: Sequence[str]) -> None:
    import psycopg

    base = os.environ.get("COURRIER_TEST_POSTGRES_URL")
    if not base:
        print("--postgres needs COURRIER_TEST_POSTGRES_URL; skipped")
        return
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sent = 0
    try:
        database_url = prepared(f"{plain}?options=-csearch_path%3D{schema}")
        with sandbox(20) as url:
            sqs = sqs_client(url)
            for concurrency in concurrencies:
                rates = []
                # One process's rate is flat per message: measured on a quarter of the load.
                for processes, count in ((1, messages // 4), (4, messages)):
                    queue = new_queue(sqs)
                    before, _ = stored(database_url)
                    fill(sqs, queue, bodies(count, start=sent))
                    sent += count
                    extra = ("--concurrency", concurrency)
                    started = time.perf_counter()
                    workers = [
                        start_worker(url, queue, database_url, *extra) for _ in range(processes)
                    ]
                    for proc in workers:
                        finish(proc)
                    seconds = time.perf_counter() - started
                    after, _ = stored(database_url)
                    rates.append(count / seconds)
                    print(
                        f"--concurrency {concurrency}, {processes} worker process(es), 20 ms: "
                        f"{count:,} messages in {seconds:.1f} s, {count / seconds:.0f} msg/s"
                    )
                    check(after - before == count, f"{after - before} events stored for {count}")
                    check(depth(sqs, queue) == 0, "queue empty")
                ratio = rates[1] / rates[0]
                check(
                    ratio >= 3.0,
                    f"--concurrency {concurrency}: 4 processes reach {ratio:.1f}x one process's "
                    "rate (target 3x)",
                )
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# ------------------------------------------------------------------ soak


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in kB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def watch(proc: subprocess.Popen[str], applied: Callable[[], int]) -> tuple[int, int, int]:
    """Print the worker's RSS every 20,000 messages applied until it exits; returns its peak
    RSS, its RSS once 20,000 were applied and the largest RSS after that, in kB."""
    base = later = peak = 0
    next_report = 0
    started = time.perf_counter()
    while proc.poll() is None:
        try:
            rss, hwm = rss_kb(proc.pid)
        except (FileNotFoundError, KeyError, ProcessLookupError):
            break
        peak = max(peak, hwm)
        done = applied()
        if not base and done >= 20_000:
            base = rss
        elif base:
            later = max(later, rss)
        if done >= next_report:
            print(
                f"  {time.perf_counter() - started:6.0f} s  {done:>8,} applied  "
                f"RSS {rss / 1024:6.1f} MB  peak {hwm / 1024:6.1f} MB",
                flush=True,
            )
            next_report += 20_000
        time.sleep(1)
    return peak, base, later


def soak(messages: int, folder: str) -> None:
    chunk, low = 10_000, 5_000
    with sandbox(0) as url:
        sqs = sqs_client(url)
        queue = new_queue(sqs)
        database_url = prepared(f"sqlite:///{folder}/soak.db")
        sent = 0

        def feed() -> None:
            nonlocal sent
            count = min(chunk, messages - sent)
            fill(sqs, queue, bodies(count, start=sent))
            sent += count

        def feeder() -> None:
            while sent < messages and proc.poll() is None:
                if depth(sqs, queue) < low:
                    feed()
                else:
                    time.sleep(0.5)

        feed()  # the worker starts on a full chunk, then is fed while it runs
        started = time.perf_counter()
        proc = start_worker(url, queue, database_url)
        thread = threading.Thread(target=feeder)
        thread.start()
        peak, base, later = watch(proc, lambda: sent - depth(sqs, queue))
        thread.join()
        stats = finish(proc)
        seconds = time.perf_counter() - started
        events, receipts = stored(database_url)
        left = depth(sqs, queue)
    growth = (later - base) / 1024 if base and later else float("nan")
    print(
        f"soak: {messages:,} messages in {seconds:.0f} s ({messages / seconds:.0f} msg/s), "
        f"peak RSS {peak / 1024:.1f} MB, growth after the first 20,000 {growth:.1f} MB"
    )
    check(stats["received"] >= messages, f"{stats['received']} received")
    check(events == receipts == messages, f"{events} events stored once each")
    check(left == 0, f"queue empty ({left} left)")
    check(peak / 1024 < 120, f"peak RSS {peak / 1024:.1f} MB < 120 MB")
    check(growth < 10, f"growth after 20,000: {growth:.1f} MB < 10 MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int)
    parser.add_argument("--baseline-messages", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--soak", action="store_true")
    parser.add_argument(
        "--concurrency",
        default="8,1",
        help="--postgres: the worker concurrencies to compare 1 and 4 processes at",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.soak:
            soak(args.messages or 200_000, folder)
        elif args.postgres:
            postgres(args.messages or 20_000, args.concurrency.split(","))
        else:
            versus_baseline(args.messages or 10_000, args.baseline_messages, folder)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
