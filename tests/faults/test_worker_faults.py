"""The worker under attack, against the sandbox's SQS and real databases.

Poison bodies next to good ones in the same batch, a store that refuses data, a SQLite file
deleted or replaced under a running worker, a read-only or missing store, queues that cannot
be read. Each case: nothing good is lost, nothing is acknowledged that was not stored, and
the worker either carries on or stops at once with a clear error.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courrier.aws.sqs import SqsQueue
from courrier.errors import AwsError, StoreUnusable
from courrier.feedback.worker import Worker
from courrier.store import Store
from courrier.store.tables import FeedbackEventRow
from tests.conftest import Pipeline, SandboxClient, postgres_schema
from tests.fakes import wait_until
from tests.feedback.poison import bounce, poison_bodies, wrapped
from tests.feedback.test_worker import dead_letter_pipeline, publish_raw


def good_bodies(count: int, start: int = 0) -> list[str]:
    return [wrapped(bounce(n), MessageId=f"good-{n}") for n in range(start, start + count)]


def stored(store: Store) -> int:
    with store.transaction(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackEventRow)) or 0)


def queue_bodies(sandbox: SandboxClient, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        found = sandbox.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        if not found:
            return bodies
        bodies.extend(m["Body"] for m in found)


def drain_until_dead_lettered(
    sandbox: SandboxClient, worker: Worker, pipeline: Pipeline, expected: int, timeout: float = 60
) -> None:
    """Run the worker until ``expected`` messages sit in the dead-letter queue."""

    def drained() -> bool:
        worker.run(until_idle=True)
        depth = sandbox.sqs.get_queue_attributes(
            QueueUrl=pipeline.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return bool(
            depth
            == {
                "ApproximateNumberOfMessages": "0",
                "ApproximateNumberOfMessagesNotVisible": "0",
            }
        )

    wait_until(
        drained,
        timeout,
        interval=0.3,
        what=f"the queue did not empty into the dead-letter queue ({expected})",
    )


def test_poison_next_to_good_bodies_only_the_poison_is_dead_lettered(
    env: SandboxClient, database_url: str, concurrency: int
) -> None:
    pipeline, dlq = dead_letter_pipeline(env, max_receives=2)
    poison = list(poison_bodies().values())
    good = good_bodies(len(poison))
    # Interleaved: every batch of ten holds poison and good bodies side by side.
    publish_raw(env, pipeline, [body for pair in zip(poison, good, strict=True) for body in pair])
    store = Store(database_url)
    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0, concurrency=concurrency)
    drain_until_dead_lettered(env, worker, pipeline, len(poison))
    assert stored(store) == len(good)
    assert len(store.suppressions()) == len(good)
    assert sorted(queue_bodies(env, dlq)) == sorted(poison)
    assert worker.stats.events == len(good)
    store.close()


def test_a_record_the_store_refuses_is_isolated_from_its_batch(
    env: SandboxClient, database_url: str, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """Should decode ever let through what the database refuses, the batch still goes in."""
    limits = importlib.import_module("courrier.feedback.limits")
    monkeypatch.setattr(limits, "check_storable", lambda envelope, events: None)
    pipeline, dlq = dead_letter_pipeline(env, max_receives=2)
    refused = wrapped(bounce(99, recipient="\ud800@example.net"), MessageId="refused")
    publish_raw(env, pipeline, [*good_bodies(4), refused, *good_bodies(5, start=4)])
    store = Store(database_url)
    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0, concurrency=concurrency)
    drain_until_dead_lettered(env, worker, pipeline, 1)
    assert stored(store) == 9
    assert queue_bodies(env, dlq) == [refused]
    store.close()


def test_deleted_sqlite_file_stops_the_worker_before_any_delete(
    env: SandboxClient, tmp_path: Path
) -> None:
    pipeline = env.pipeline()
    env.sqs.set_queue_attributes(QueueUrl=pipeline.queue_url, Attributes={"VisibilityTimeout": "1"})
    publish_raw(env, pipeline, good_bodies(30))
    path = tmp_path / "live.db"
    store = Store(f"sqlite:///{path}")
    queue = SqsQueue(pipeline.queue_url)
    worker = Worker(queue, store, wait_seconds=0)
    worker.process(queue.receive(max_messages=10, wait_seconds=0))
    assert worker.stats.deleted == 10
    path.unlink()
    with pytest.raises(StoreUnusable, match="deleted while in use"):
        worker.process(queue.receive(max_messages=10, wait_seconds=0))
    assert worker.stats.deleted == 10  # the batch that went to the deleted file stays on SQS
    store.close()
    # A worker on a new file gets every message the deleted file took.
    fresh = Store(f"sqlite:///{tmp_path}/fresh.db")
    # The batch the deleted file took comes back once its visibility timeout (1 s) runs out.
    wait_until(lambda: env.visible(pipeline.queue_url) == 20)
    Worker(queue, fresh, wait_seconds=0).run(until_idle=True)
    assert stored(fresh) == 20
    fresh.close()


def test_replaced_sqlite_file_stops_the_worker(
    env: SandboxClient, tmp_path: Path, concurrency: int
) -> None:
    path = tmp_path / "live.db"
    store = Store(f"sqlite:///{path}")
    shutil.copy(path, tmp_path / "copy.db")
    os.replace(tmp_path / "copy.db", path)
    with pytest.raises(StoreUnusable, match="replaced while in use"):
        Worker(SqsQueue("http://unused"), store, concurrency=concurrency).run(until_idle=True)
    store.close()


def test_read_only_store_stops_at_start(
    env: SandboxClient, tmp_path: Path, concurrency: int
) -> None:
    path = tmp_path / "ro.db"
    Store(f"sqlite:///{path}").close()
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true", migrate=False)
    with pytest.raises(StoreUnusable, match="cannot be written"):
        Worker(SqsQueue(env.pipeline().queue_url), read_only, concurrency=concurrency).run()
    read_only.close()


@pytest.mark.postgres
def test_read_only_postgres_session_stops_at_start(env: SandboxClient) -> None:
    with postgres_schema() as url:
        Store(url).close()
        read_only = Store(url + "%20-cdefault_transaction_read_only%3Don", migrate=False)
        with pytest.raises(StoreUnusable, match="cannot be written"):
            Worker(SqsQueue(env.pipeline().queue_url), read_only).run()
        read_only.close()


def run_cli_worker(
    env: SandboxClient, database_url: str, queue_url: str, concurrency: int = 1
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "courrier", "worker", "--queue-url", queue_url),
            *("--wait", "1", f"--concurrency={concurrency}"),
            # No message is read in these failures: any topic will do.
            *("--allow-topic", "arn:aws:sns:us-east-1:123456789012:ses-feedback"),
            "--no-verify-signatures",
        ],
        env={**os.environ, "AWS_ENDPOINT_URL": env.url, "COURRIER_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("sqlite:////nonexistent-courrier-dir/x.db", "unable to open database file"),
        ("readonly", "cannot be written"),
    ],
)
def test_cli_worker_exits_at_once_on_an_unusable_store(
    env: SandboxClient, tmp_path: Path, database: str, message: str, concurrency: int
) -> None:
    if database == "readonly":
        Store(f"sqlite:///{tmp_path}/ro.db").close()
        database = f"sqlite:///file:{tmp_path}/ro.db?mode=ro&uri=true"
    proc = run_cli_worker(env, database, env.pipeline().queue_url, concurrency)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("queue", ["missing", "deleted"])
def test_permanent_receive_errors_stop_the_worker(
    env: SandboxClient, tmp_path: Path, queue: str, concurrency: int
) -> None:
    if queue == "missing":
        url = f"{env.url}/123456789012/no-such-queue-{uuid.uuid4().hex[:6]}"
    else:
        url = env.pipeline().queue_url
        env.sqs.delete_queue(QueueUrl=url)
    store = Store(f"sqlite:///{tmp_path}/q.db")
    worker = Worker(SqsQueue(url), store, wait_seconds=0, concurrency=concurrency)
    with pytest.raises(AwsError) as caught:
        worker.run()
    assert not caught.value.retryable
    assert "NonExistentQueue" in caught.value.code or "QueueDoesNotExist" in caught.value.code
    assert worker.stats.receive_errors == 1
    proc = run_cli_worker(env, f"sqlite:///{tmp_path}/q.db", url, concurrency)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "ReceiveMessage" in err
    store.close()


def test_transient_receive_errors_are_retried(
    env: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = Store(f"sqlite:///{tmp_path}/t.db")
    worker = Worker(
        SqsQueue("http://127.0.0.1/123456789012/q"), store, wait_seconds=0, concurrency=concurrency
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as err:  # recorded for the assertion below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_until(lambda: worker.stats.receive_errors >= 2, timeout=20)
    finally:
        worker.stop()
        thread.join(30)
    assert errors == []
    assert worker.stats.receive_errors >= 2
    store.close()


def test_deleted_sqlite_file_stops_a_concurrent_run_before_any_more_deletes(
    env: SandboxClient, tmp_path: Path
) -> None:
    pipeline = env.pipeline()
    env.sqs.set_queue_attributes(QueueUrl=pipeline.queue_url, Attributes={"VisibilityTimeout": "1"})
    publish_raw(env, pipeline, good_bodies(60))
    path = tmp_path / "live.db"
    store = Store(f"sqlite:///{path}")
    queue = SqsQueue(pipeline.queue_url)

    def delete_the_file(event: object) -> None:  # a hook: runs right after the commit
        path.unlink(missing_ok=True)

    worker = Worker(
        queue, store, wait_seconds=0, concurrency=4, hooks={"Bounce": [delete_the_file]}
    )
    with pytest.raises(StoreUnusable, match="deleted while in use"):
        worker.run(until_idle=True)
    # Only the first transaction's messages, committed before the file went, were deleted.
    assert worker.stats.transactions == 1
    assert worker.stats.deleted == worker.stats.events
    store.close()
    fresh = Store(f"sqlite:///{tmp_path}/fresh.db")
    left = 60 - worker.stats.deleted
    wait_until(lambda: env.visible(pipeline.queue_url) == left)
    Worker(queue, fresh, wait_seconds=0, concurrency=4).run(until_idle=True)
    assert stored(fresh) == 60 - worker.stats.deleted
    fresh.close()


@pytest.mark.postgres
def test_database_outage_during_a_concurrent_run_loses_nothing(env: SandboxClient) -> None:
    import psycopg

    with postgres_schema() as url:
        store = Store(url)
        pipeline = env.pipeline()
        publish_raw(env, pipeline, good_bodies(50))
        locker = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        # The store is "down" while another session holds its table: its lock timeout
        # makes every apply fail as unavailable until the lock is released.
        locker.execute("LOCK TABLE sns_receipts IN ACCESS EXCLUSIVE MODE")
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            if len(sleeps) == 2:
                locker.rollback()  # the database comes back during the second backoff

        slow = Store(url + "%20-clock_timeout%3D300", migrate=False)
        worker = Worker(
            SqsQueue(pipeline.queue_url), slow, wait_seconds=0, concurrency=4, sleep=sleep
        )
        try:
            worker.run(until_idle=True)
        finally:
            locker.close()
        assert worker.stats.store_retries == 2
        assert worker.stats.events == 50
        assert worker.stats.deleted == 50
        assert stored(store) == 50
        slow.close()
        store.close()
