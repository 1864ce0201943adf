"""The worker against the sandbox: real SES traffic, both routes and envelope shapes, faults."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.aws.sqs import QueueMessage, SqsQueue
from courrier.backoff import Backoff
from courrier.errors import ConfigurationError, StoreError
from courrier.feedback import events as ev
from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.feedback.worker import Worker
from courrier.message import Attachment, Message
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.tables import FeedbackEventRow
from tests.conftest import SENDER, Pipeline, SandboxClient
from tests.fakes import ListQueue, wait_until
from tests.feedback.signing import signed
from tests.feedback.test_decode import sample
from tests.sandbox.helpers import CONFIG_SET, events_route, notifications_route

SIM = "simulator.amazonses.com"
CASES = ["success", "bounce", "ooto", "complaint", "suppressionlist"]
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def kinds_in(store: Store) -> list[tuple[str, str | None, str | None]]:
    with store.transaction() as session:
        rows = session.execute(
            select(FeedbackEventRow.kind, FeedbackEventRow.subtype, FeedbackEventRow.recipient)
        ).all()
    return sorted((k, s, r) for k, s, r in rows)


def run_route(
    sandbox: SandboxClient, store: Store, route: str, *, raw: bool, concurrency: int = 1
) -> Worker:
    pipeline = sandbox.pipeline(raw=raw)
    if route == "events":
        events_route(sandbox, pipeline)
    else:
        notifications_route(sandbox, pipeline)
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    config_set = CONFIG_SET if route == "events" else None
    for case in CASES:
        mailer.send(
            Message(
                sender=SENDER,
                to=[f"{case}@{SIM}"],
                subject=case,
                text="x",
                configuration_set=config_set,
            )
        )
    sandbox.drain()
    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0, concurrency=concurrency)
    worker.run(until_idle=True)
    return worker


@pytest.mark.parametrize("raw", [False, True], ids=["envelope", "raw-delivery"])
@pytest.mark.parametrize("route", ["notifications", "events"])
def test_simulator_scenarios_end_to_end(
    env: SandboxClient, store: Store, route: str, raw: bool, concurrency: int
) -> None:
    worker = run_route(env, store, route, raw=raw, concurrency=concurrency)
    entries = {s.address: s.reason for s in store.suppressions()}
    assert entries == {
        f"bounce@{SIM}": "bounce",
        f"suppressionlist@{SIM}": "bounce",
        f"complaint@{SIM}": "complaint",
    }
    expected = [
        ("Bounce", "Permanent/General", f"bounce@{SIM}"),
        ("Bounce", "Permanent/Suppressed", f"suppressionlist@{SIM}"),
        ("Bounce", "Transient/General", f"ooto@{SIM}"),
        ("Complaint", "abuse", f"complaint@{SIM}"),
        ("Delivery", None, f"complaint@{SIM}"),
        ("Delivery", None, f"ooto@{SIM}"),
        ("Delivery", None, f"success@{SIM}"),
    ]
    if route == "events":
        expected += [("Send", None, f"{case}@{SIM}") for case in CASES]
    assert kinds_in(store) == sorted(expected)
    assert worker.stats.rejected == 0
    assert worker.stats.deleted == worker.stats.received
    with store.transaction() as session:
        statuses = dict(
            session.execute(
                select(FeedbackEventRow.recipient, FeedbackEventRow.action).where(
                    FeedbackEventRow.kind == "Bounce"
                )
            ).all()
        )
    assert statuses[f"ooto@{SIM}"] == "record"


def test_reject_event_from_real_traffic(env: SandboxClient, store: Store, concurrency: int) -> None:
    env.ses.verify_email_identity(EmailAddress="qa@example.com")
    pipeline = env.pipeline()
    events_route(env, pipeline)
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    result = mailer.send(
        Message(
            sender=SENDER,
            to=["qa@example.com"],
            text="x",
            configuration_set=CONFIG_SET,
            attachments=[Attachment("eicar.com.txt", EICAR, "text/plain")],
        )
    )
    env.drain()
    Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0, concurrency=concurrency).run(
        until_idle=True
    )
    assert ("Reject", "Bad content", "qa@example.com") in kinds_in(store)
    record = store.message(result.id)
    assert record is not None
    assert [r.status for r in record.recipients] == ["rejected"]


def test_statuses_and_hooks_from_real_traffic(
    env: SandboxClient, store: Store, concurrency: int
) -> None:
    pipeline = env.pipeline()
    notifications_route(env, pipeline)
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    result = mailer.send(
        Message(sender=SENDER, to=[f"success@{SIM}", f"complaint@{SIM}", f"bounce@{SIM}"], text="x")
    )
    env.drain()
    complaints: list[ev.Event] = []
    Worker(
        SqsQueue(pipeline.queue_url),
        store,
        wait_seconds=0,
        hooks={"Complaint": [complaints.append]},
        concurrency=concurrency,
    ).run(until_idle=True)
    record = store.message(result.id)
    assert record is not None
    assert {r.address: r.status for r in record.recipients} == {
        f"success@{SIM}": "delivered",
        f"complaint@{SIM}": "complained",
        f"bounce@{SIM}": "bounced",
    }
    assert [e.recipient for e in complaints] == [f"complaint@{SIM}"]


def publish_raw(sandbox: SandboxClient, pipeline: Pipeline, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        sandbox.sqs.send_message_batch(
            QueueUrl=pipeline.queue_url,
            Entries=[
                {"Id": str(n), "MessageBody": body}
                for n, body in enumerate(bodies[start : start + 10])
            ],
        )


def enveloped(pipeline: Pipeline, body: str) -> str:
    """``body`` in an (unsigned) SNS envelope from the pipeline's topic, as SNS delivers it
    with raw delivery off: ``courrier worker`` accepts only its allowed topics."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": pipeline.topic_arn,
            "Message": body,
            "Timestamp": "2024-05-14T09:12:03.600Z",
        }
    )


def bounce_body(n: int) -> str:
    payload = sample("S1")
    payload["mail"]["messageId"] = f"msg-{n}"
    payload["bounce"]["feedbackId"] = f"fb-{n}"
    payload["bounce"]["bouncedRecipients"] = [{"emailAddress": f"user{n}@example.net"}]
    return json.dumps(payload)


def dead_letter_pipeline(sandbox: SandboxClient, max_receives: int = 2) -> tuple[Pipeline, str]:
    pipeline = sandbox.pipeline()
    dlq = sandbox.sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    dlq_arn = sandbox.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sandbox.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}
            ),
        },
    )
    return pipeline, dlq


def test_poison_message_reaches_the_dead_letter_queue(
    env: SandboxClient, store: Store, concurrency: int
) -> None:
    pipeline, dlq = dead_letter_pipeline(env)
    publish_raw(env, pipeline, [bounce_body(1), "this is not feedback", bounce_body(2)])
    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=1, concurrency=concurrency)

    def dead_lettered() -> list[dict[str, Any]]:
        worker.run(until_idle=True)
        found: list[dict[str, Any]] = env.sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10
        ).get("Messages", [])
        return found

    moved = wait_until(dead_lettered, timeout=20, interval=0.05)
    assert [m["Body"] for m in moved] == ["this is not feedback"]
    assert {s.address for s in store.suppressions()} == {"user1@example.net", "user2@example.net"}
    assert worker.stats.rejected >= 2  # seen on each receive until redriven


def pipeline_with_an_intruder(env: SandboxClient) -> Pipeline:
    """A pipeline whose queue also takes any topic's messages: bounce 1 from the pipeline's
    topic and bounce 2 from an intruder's are waiting on it."""
    pipeline = env.pipeline()
    other = env.sns.create_topic(Name="intruder")["TopicArn"]
    env.sqs.set_queue_attributes(
        QueueUrl=pipeline.queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": pipeline.queue_arn,
                        }
                    ],
                }
            )
        },
    )
    env.sns.subscribe(TopicArn=other, Protocol="sqs", Endpoint=pipeline.queue_arn)
    env.sns.publish(TopicArn=pipeline.topic_arn, Message=bounce_body(1))
    env.sns.publish(TopicArn=other, Message=bounce_body(2))
    return pipeline


def test_topic_allow_list(env: SandboxClient, store: Store, concurrency: int) -> None:
    pipeline = pipeline_with_an_intruder(env)
    worker = Worker(
        SqsQueue(pipeline.queue_url),
        store,
        wait_seconds=0,
        allowed_topics=[pipeline.topic_arn],
        concurrency=concurrency,
    )
    worker.run(until_idle=True)
    assert [s.address for s in store.suppressions()] == ["user1@example.net"]
    assert worker.stats.rejected == 1
    left = env.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert left["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_several_workers_share_a_queue(
    env: SandboxClient, database_url: str, concurrency: int
) -> None:
    pipeline = env.pipeline()
    bodies = [bounce_body(n) for n in range(120)]
    publish_raw(env, pipeline, bodies + bodies[:40])  # 40 duplicates
    stores = [Store(database_url) for _ in range(4)]
    workers = [
        Worker(SqsQueue(pipeline.queue_url), s, wait_seconds=0, concurrency=concurrency)
        for s in stores
    ]
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(w.stats.received for w in workers) >= 160
    assert sum(w.stats.events for w in workers) == 120
    assert len(stores[0].suppressions()) == 120
    with stores[0].transaction() as session:
        assert session.scalar(select(func.count()).select_from(FeedbackEventRow)) == 120
    for opened in stores:
        opened.close()


# ------------------------------------------------------------------ worker processes


def start_worker(url: str, queue_url: str, database_url: str, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "COURRIER_DATABASE_URL": database_url,
        # The sandbox's SNS signs with certificates AWS does not serve.
        "COURRIER_VERIFY_SIGNATURES": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "courrier", "worker", "--queue-url", queue_url, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_events(database_url: str) -> int:
    """Events in the worker's database; 0 while its schema is not there yet."""
    store = Store(database_url, migrate=False)
    try:
        with store.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(FeedbackEventRow)) or 0)
    except StoreError:
        return 0
    finally:
        store.close()


def test_sigkill_mid_run_loses_nothing_and_doubles_nothing(
    env: SandboxClient, tmp_path: Path, concurrency: int
) -> None:
    database_url = f"sqlite:///{tmp_path}/kill.db"
    Store(database_url).close()
    pipeline = env.pipeline()
    env.sqs.set_queue_attributes(QueueUrl=pipeline.queue_url, Attributes={"VisibilityTimeout": "2"})
    total = 400
    publish_raw(env, pipeline, [enveloped(pipeline, bounce_body(n)) for n in range(total)])
    topic = ("--allow-topic", pipeline.topic_arn)
    kills = 0

    def at_work(proc: subprocess.Popen[str], before: int) -> bool:
        return proc.poll() is not None or stored_events(database_url) > before

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        before = stored_events(database_url)
        proc = start_worker(
            env.url,
            pipeline.queue_url,
            database_url,
            *(*topic, "--wait", "1", f"--concurrency={concurrency}"),
        )
        # Killed in the middle of its work: once it has committed a batch of its own.
        wait_until(functools.partial(at_work, proc, before), timeout=60)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
        if kills >= 3:
            break
    final = start_worker(
        env.url, pipeline.queue_url, database_url, *topic, "--wait", "3", "--until-idle"
    )
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert kills >= 1
    assert stored_events(database_url) == total
    attributes = env.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def test_sigterm_finishes_the_batch_and_exits_zero(
    env: SandboxClient, tmp_path: Path, concurrency: int
) -> None:
    database_url = f"sqlite:///{tmp_path}/term.db"
    pipeline = env.pipeline()
    publish_raw(env, pipeline, [enveloped(pipeline, bounce_body(n)) for n in range(30)])
    proc = start_worker(
        env.url,
        pipeline.queue_url,
        database_url,
        "--allow-topic",
        pipeline.topic_arn,
        "--wait",
        "2",
        "-v",
        f"--concurrency={concurrency}",
    )
    # Signal once the worker is at work (its handlers are installed before it receives).
    wait_until(lambda: stored_events(database_url), timeout=30, what="the worker never started")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "finishing the batch in hand" in err
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["deleted"] == stats["received"]
    assert stored_events(database_url) == stats["events"]


@pytest.mark.postgres
def test_database_outage_loses_nothing(env: SandboxClient) -> None:
    import psycopg

    from tests.conftest import _postgres_url

    base = (_postgres_url() or "").replace("postgresql+psycopg://", "postgresql://")
    name = f"courrier_outage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    store = Store(url)

    def outage(on: bool) -> None:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(
                f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"false" if on else "true"}'
            )
            if on:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    pipeline = env.pipeline()
    publish_raw(env, pipeline, [bounce_body(n) for n in range(10)])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            outage(False)  # the database comes back during the second backoff

    try:
        queue = SqsQueue(pipeline.queue_url, AwsConfig())
        worker = Worker(queue, store, wait_seconds=0, sleep=sleep)
        messages = queue.receive(max_messages=10, wait_seconds=0)
        assert len(messages) == 10
        outage(True)
        worker.process(messages)
        assert worker.stats.store_retries == 2
        assert worker.stats.events == 10
        assert worker.stats.deleted == 10
        assert len(store.suppressions()) == 10
    finally:
        store.close()
        outage(False)
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_stop_during_a_database_outage_leaves_the_batch(key: rsa.RSAPrivateKey) -> None:
    down = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", migrate=False)
    queue = ListQueue()
    worker: Worker = Worker(queue, down, sleep=lambda seconds: worker.stop())
    applied = worker.process([QueueMessage("m", "h", json.dumps(signed(key)), 1)])
    assert applied.stored == []
    assert queue.deleted == []
    assert worker.stats.store_retries == 1
    down.close()


def test_a_stop_wakes_the_store_backoff(key: rsa.RSAPrivateKey) -> None:
    down = Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", migrate=False)
    queue = ListQueue()

    class Minutes(Backoff):
        def delays(self, rng: random.Random | None = None) -> Iterator[float]:
            while True:
                yield 60.0  # a stop must not wait one out

    worker = Worker(queue, down, store_backoff=Minutes())
    stopper = threading.Timer(2.0, worker.stop)
    stopper.start()
    started = time.monotonic()
    try:
        applied = worker.process([QueueMessage("m", "h", json.dumps(signed(key)), 1)])
    finally:
        stopper.cancel()
        down.close()
    assert applied.stored == []
    assert queue.deleted == []
    assert time.monotonic() - started < 15


class Counting(WorkerObserver):
    def __init__(self) -> None:
        self.applied_calls = 0
        self.polls = 0

    def polled(self, received: int) -> None:
        self.polls += 1

    def applied(self, applied: Applied) -> None:
        self.applied_calls += 1


def test_concurrent_receives_are_applied_several_per_transaction(store: Store) -> None:
    messages = [QueueMessage(f"m{n}", f"h{n}", bounce_body(n), 1) for n in range(300)]
    queue = ListQueue(messages)
    counting = Counting()
    worker = Worker(
        queue,
        store,
        wait_seconds=0,
        concurrency=4,
        apply_limit=50,
        observers=[counting],
    )
    stats = worker.run(until_idle=True)
    assert (stats.received, stats.events, stats.deleted) == (300, 300, 300)
    assert sorted(queue.deleted) == sorted(m.message_id for m in messages)
    assert stats.batches == 30
    assert 6 <= stats.transactions < 30  # several receives per transaction, 50 at most
    assert counting.applied_calls == stats.transactions  # each commit reported once
    assert counting.polls >= 30 + 4  # and every receiver's last, empty, poll
    assert len(store.suppressions()) == 300


@pytest.mark.parametrize(("concurrency", "limit"), [(0, 100), (2, 5)])
def test_worker_settings_are_checked(store: Store, concurrency: int, limit: int) -> None:
    with pytest.raises(ConfigurationError, match="concurrency"):
        Worker(ListQueue(), store, concurrency=concurrency, apply_limit=limit)


def test_a_worker_from_settings_is_the_one_courrier_worker_runs(
    env: SandboxClient, database_url: str
) -> None:
    pipeline = env.pipeline()
    notifications_route(env, pipeline)
    store = Store(database_url)
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    for case in ("bounce", "complaint", "success"):
        mailer.send(Message(sender=SENDER, to=[f"{case}@{SIM}"], subject=case, text="x"))
    env.drain()
    settings = Settings(
        database_url=database_url,
        queue_url=pipeline.queue_url,
        topic_arn=pipeline.topic_arn,
        worker_concurrency=3,
        # The sandbox's SNS signs with certificates AWS does not serve (courrier setup
        # writes this against it).
        verify_signatures=False,
    )
    seen: list[int] = []

    class Counter(WorkerObserver):
        def applied(self, applied: Applied) -> None:
            seen.append(len(applied.stored))

    worker = Worker.from_settings(
        settings, store=store, wait_seconds=0, observers=[Counter()], hooks={"Bounce": []}
    )
    assert (worker.concurrency, worker.allowed_topics) == (3, frozenset({pipeline.topic_arn}))
    assert isinstance(worker.queue, SqsQueue)
    assert worker.queue.url == pipeline.queue_url
    stats = worker.run(until_idle=True)
    assert stats.deleted == stats.received
    assert stats.events == sum(seen) >= 3
    assert {s.address for s in store.suppressions()} == {f"bounce@{SIM}", f"complaint@{SIM}"}
    # Its own store when given none; refused without a queue or a topic to trust.
    alone = Worker.from_settings(settings, concurrency=1, allow_topics=["arn:other"])
    assert alone.verifier is None
    # Signatures are checked unless the settings (or the caller) say otherwise.
    checking = Worker.from_settings(dataclasses.replace(settings, verify_signatures=True))
    assert checking.verifier is not None
    checking.store.close()
    assert (alone.concurrency, alone.allowed_topics) == (1, frozenset({"arn:other"}))
    assert alone.store is not store
    alone.store.close()
    store.close()
    with pytest.raises(ConfigurationError, match="no queue"):
        Worker.from_settings(Settings(database_url=database_url))
    with pytest.raises(ConfigurationError, match="no SNS topic allowed"):
        Worker.from_settings(Settings(database_url=database_url, queue_url=pipeline.queue_url))
