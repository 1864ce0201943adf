"""Pacing at volume: several processes sending through one SES account at its max send rate.

A sandbox in production mode (``courrier sandbox --production --max-send-rate R``, its own
process) stands for SES. For each scenario, a fresh PostgreSQL schema
(``COURRIER_TEST_POSTGRES_URL``, dropped afterwards; a SQLite file without it) is the store,
and N processes each send their share of one-recipient messages with ``Mailer.send``:

* ``shared``: the default, one bucket in the store for every process (``send_rate_scope =
  "store"``);
* ``process``: the baseline, each process pacing itself (``send_rate_scope = "process"``);
* ``outbox xN``: the messages queued first (each process queues its share, then all start
  together), then N ``courrier outbox run --until-empty`` runners (:class:`OutboxRunner`)
  sharing the store's bucket; a throttled row goes back to the queue (counted as a retry).

Reported per scenario: the achieved rate over the whole span (every process ready and
started together, to the last answer) as % of R, the tail (first process done to last), how
many times the sandbox answered ``Throttling`` (counted on its side, ``GET
/_courrier/throttles``), the client's retries, messages that failed, and the mailbox (copies
delivered; a count above the messages sent is a duplicate). Exit status 1 when the shared
limiter misses (in any scenario but the baseline): >= 97% of R, 0 throttles, 0 failures,
no duplicate.

Another kind of sender is one more :class:`Scenario` in :func:`scenarios`, with its own
``worker``: a module-level function ``(Job) -> WorkerResult`` run in each process.

    python bench/pacing.py [--rate 50] [--processes 4] [--messages 2000] [--skip-baseline]
                           [--outbox 1,4,8]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from courrier_sandbox.client import SandboxControl

REGION = "us-east-1"
SENDER = "bench@example.com"


@dataclass(frozen=True)
class Job:
    """One process's share of a scenario."""

    database_url: str
    index: int
    messages: int
    #: Every process waits here once ready (courrier imported, store open), then all begin.
    ready: Any
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerResult:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    ended_at: float = 0.0


@dataclass(frozen=True)
class Scenario:
    label: str
    worker: Callable[[Job], WorkerResult]
    processes: int
    settings: dict[str, Any] = field(default_factory=dict)


def send_directly(job: Job) -> WorkerResult:
    """``Mailer.send`` in a loop, one recipient per message."""
    from courrier.aws.ses import SesClient
    from courrier.errors import CourrierError
    from courrier.message import Message
    from courrier.sending import Mailer
    from courrier.settings import Settings
    from courrier.store import Store

    # Retries are counted, not printed.
    logging.getLogger("courrier").setLevel(logging.ERROR)
    result = WorkerResult()

    def on_retry(_error: CourrierError, _delay: float) -> None:
        result.retries += 1

    settings = Settings(database_url=job.database_url, **job.settings)
    mailer = Mailer(Store(job.database_url), SesClient(), settings=settings, on_retry=on_retry)
    job.ready.wait(300)
    for n in range(job.messages):
        message = Message(
            sender=SENDER, to=(f"p{job.index}-{n}@example.org",), subject="Pacing", text="Hi"
        )
        try:
            mailer.send(message)
            result.sent += 1
        except CourrierError as err:
            result.failed += 1
            result.errors[type(err).__name__] = result.errors.get(type(err).__name__, 0) + 1
    result.ended_at = time.time()
    mailer.store.close()
    return result


def run_outbox(job: Job) -> WorkerResult:
    """Queue this process's share, then run the outbox until nothing is due."""
    from courrier.aws.ses import SesClient
    from courrier.message import Message
    from courrier.sending import Mailer
    from courrier.sending.outbox import OutboxRunner, enqueue_many
    from courrier.settings import Settings
    from courrier.store import Store

    logging.getLogger("courrier").setLevel(logging.ERROR)
    settings = Settings(database_url=job.database_url, **job.settings)
    mailer = Mailer(Store(job.database_url), SesClient(), settings=settings)
    enqueue_many(
        mailer.store,
        [
            (
                Message(
                    sender=SENDER,
                    to=(f"o{job.index}-{n}@example.org",),
                    subject="Pacing",
                    text="Hi",
                ),
                f"pacing-{job.index}-{n}",
            )
            for n in range(job.messages)
        ],
    )
    job.ready.wait(300)
    outcomes = OutboxRunner(mailer).run(until_empty=True).outcomes
    mailer.store.close()
    failed = outcomes.get("failed", 0) + outcomes.get("unknown", 0)
    return WorkerResult(
        sent=outcomes.get("sent", 0),
        failed=failed,
        retries=outcomes.get("requeued", 0),
        errors={k: v for k, v in outcomes.items() if k in ("failed", "unknown") and v},
        ended_at=time.time(),
    )


# ---------------------------------------------------------------- sandbox and store


@contextmanager
def sandbox(rate: float, latency: str | None = None) -> Iterator[str]:
    from courrier_sandbox import Sandbox  # noqa: F401  fails early when courrier is missing

    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "courrier",
            "sandbox",
            "--port",
            str(port),
            "--production",
            "--max-send-rate",
            str(rate),
            "--feedback-delay",
            "0",
            *(["--latency", latency] if latency else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                control(url, "GET", "/health")
                break
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"the sandbox did not start: {process.stderr!r}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def unlimited_account(url: str) -> None:
    """This process's boto3 pointed at the sandbox ``url``, whose account is out of the SES
    sandbox with no rate worth the name, and ``SENDER`` verified."""
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    control(url, "POST", "/account", {"max_send_rate": 100_000.0, "production": True})
    boto3.client("ses", endpoint_url=url, region_name=REGION).verify_email_identity(
        EmailAddress=SENDER
    )


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    """One call to the sandbox's ``/_courrier{path}``, through its typed client."""
    return SandboxControl(url, timeout=60).request(method, path, body)


@contextmanager
def database() -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards), else a SQLite file."""
    url = os.environ.get("COURRIER_TEST_POSTGRES_URL")
    if not url:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/pacing.db"
        return
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"courrier_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in plain else "?"
    try:
        yield f"{plain}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---------------------------------------------------------------- one scenario


def run(url: str, scenario: Scenario, rate: float, messages: int) -> dict[str, Any]:
    control(url, "POST", "/reset")
    control(url, "POST", "/account", {"max_send_rate": rate, "production": True})
    boto3.client("ses", endpoint_url=url, region_name=REGION).verify_email_identity(
        EmailAddress=SENDER
    )
    share = messages // scenario.processes
    with database() as database_url:
        from courrier.store import Store

        Store(database_url).close()  # migrated once, before the processes race to it
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, context.Pool(scenario.processes) as pool:
            ready = manager.Barrier(scenario.processes + 1)
            jobs = [
                Job(database_url, index, share, ready, scenario.settings)
                for index in range(scenario.processes)
            ]
            pending = pool.map_async(scenario.worker, jobs, chunksize=1)
            ready.wait(300)
            started = time.time()
            results = pending.get()
    control(url, "POST", "/drain")
    delivered = control(url, "GET", "/mailbox?kind=delivery")["messages"]
    recipients = [letter["recipient"] for letter in delivered]
    sent = sum(r.sent for r in results)
    span = max(r.ended_at for r in results) - started
    errors: dict[str, int] = {}
    for r in results:
        for name, count in r.errors.items():
            errors[name] = errors.get(name, 0) + count
    return {
        "scenario": scenario.label,
        "processes": scenario.processes,
        "messages": share * scenario.processes,
        "sent": sent,
        "seconds": round(span, 2),
        "rate_pct": round(100.0 * sent / span / rate, 1),
        # First to last process done: a long tail is one process left sending alone.
        "tail_seconds": round(span - (min(r.ended_at for r in results) - started), 2),
        "throttles": control(url, "GET", "/throttles")["throttles"],
        "retries": sum(r.retries for r in results),
        "failed": sum(r.failed for r in results),
        "errors": errors,
        "delivered": len(recipients),
        "duplicates": len(recipients) - len(set(recipients)),
    }


def scenarios(processes: int, *, baseline: bool, outbox: list[int]) -> list[Scenario]:
    """What runs, in order; all but the baseline are judged. New kinds of senders go here."""
    chosen = [Scenario("shared", send_directly, processes)]
    if baseline:
        chosen.append(Scenario("process", send_directly, processes, {"send_rate_scope": "process"}))
    chosen.extend(Scenario(f"outbox x{n}", run_outbox, n) for n in outbox)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--outbox", default="1,4,8", help="Outbox runner counts, comma-separated ('' for none)."
    )
    args = parser.parse_args()
    for name in list(os.environ):
        if name.startswith("COURRIER_") and name != "COURRIER_TEST_POSTGRES_URL":
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    outbox = [int(n) for n in args.outbox.split(",") if n.strip()]
    chosen = scenarios(args.processes, baseline=not args.skip_baseline, outbox=outbox)
    store = "PostgreSQL" if os.environ.get("COURRIER_TEST_POSTGRES_URL") else "SQLite"
    print(f"pacing: R={args.rate:g}/s, {args.messages} one-recipient messages, {store} store")
    rows = []
    with sandbox(args.rate) as url:
        os.environ["AWS_ENDPOINT_URL"] = url
        for scenario in chosen:
            row = run(url, scenario, args.rate, args.messages)
            rows.append(row)
            print(json.dumps(row))
    # The judgement of the issue: the rate reached, and SES never had to say no.
    failing = 0
    for row in rows:
        if row["scenario"] == "process":
            continue  # the baseline shows what the shared bucket prevents
        missed = [
            what
            for what, ok in (
                (">= 97% of R", row["rate_pct"] >= 97.0),
                ("0 throttles", row["throttles"] == 0),
                ("0 failed", row["failed"] == 0),
                ("every message delivered once", row["delivered"] == row["messages"]),
            )
            if not ok
        ]
        if missed:
            print(f"{row['scenario']} missed: {', '.join(missed)}")
            failing += 1
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
