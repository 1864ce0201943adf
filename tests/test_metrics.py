"""Prometheus metrics: scraped over HTTP and read back with Prometheus's own text parser."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.errors import AwsError
from courrier.feedback.worker import Worker
from courrier.message import Message
from courrier.metrics import Metrics
from courrier.reputation import Guard
from courrier.reputation.observer import GuardObserver
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from tests.conftest import SENDER, SandboxClient, free_port
from tests.reputation import scenario

SIM = scenario.SIM
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_worker_metrics_scraped_and_parsed(env: SandboxClient, store: Store) -> None:
    settings = Settings(database_url="unused", reputation_count_simulator=True, guard_min_volume=10)
    queue_url = scenario.prepare(env, store)
    dead_letter = env.sqs.create_queue(QueueName="metrics-dlq")["QueueUrl"]
    env.sqs.send_message(QueueUrl=dead_letter, MessageBody="poison")
    env.sqs.send_message(QueueUrl=queue_url, MessageBody="this is not feedback")
    scenario.send(
        store,
        [([f"success+{n}@{SIM}"], False) for n in range(16)]
        + [([f"bounce+{n}@{SIM}"], False) for n in range(2)]
        + [([f"complaint@{SIM}"], False)],
    )
    metrics = Metrics()
    metrics.watch_store(store, settings)
    metrics.watch_queues({"feedback": SqsQueue(queue_url), "dead_letter": SqsQueue(dead_letter)})
    guard = Guard(store, settings)
    scenario.apply_feedback(env, store, queue_url, [metrics, GuardObserver(guard)])
    server = metrics.serve(free_port())
    try:
        samples = scrape(server.port)
    finally:
        server.close()

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("courrier_feedback_events_total", kind="Send", subtype="") == 19
    assert value("courrier_feedback_events_total", kind="Delivery", subtype="") == 17
    assert value("courrier_feedback_events_total", kind="Bounce", subtype="Permanent/General") == 2
    assert value("courrier_feedback_events_total", kind="Complaint", subtype="abuse") == 1
    assert value("courrier_suppressions_added_total") == 3
    assert value("courrier_worker_left_for_dead_letter_total") == 1
    assert value("courrier_worker_batches_total") >= 4  # 19 + 17 + 2 + 1 bodies, 10 a batch
    assert value("courrier_messages", status="sent") == 19
    assert value("courrier_bounce_rate") == pytest.approx(2 / 19)
    assert value("courrier_complaint_rate") == pytest.approx(1 / 19)
    assert value("courrier_window_recipients") == 19
    assert value("courrier_guard_tripped") == 1
    assert value("courrier_queue_messages", queue="dead_letter") == 1
    assert value("courrier_queue_messages", queue="feedback") == 0  # the poison one is in flight


def test_poll_errors_and_send_retries(env: SandboxClient, store: Store) -> None:
    metrics = Metrics()
    missing = SqsQueue(f"{env.url}/000000000000/no-such-queue", AwsConfig())
    worker = Worker(missing, store, wait_seconds=0, observers=[metrics])
    with pytest.raises(AwsError, match="NonExistentQueue"):
        worker.run()  # a queue that does not exist stops the worker after one poll error

    env.ses.verify_email_identity(EmailAddress=SENDER)
    env.set_account(max_send_rate=1.0, max_send_burst=1.0)
    mailer = Mailer(
        store,
        SesClient(),
        settings=Settings(send_attempts=4, backoff_base=0.01, backoff_cap=0.05),
        pacer=Pacer(1000),
        sleep=lambda _s: time.sleep(0.6),
        on_retry=metrics.send_retried,
    )
    for _ in range(2):
        mailer.send(Message(sender=SENDER, to=[f"success@{SIM}"], text="x"))
    server = metrics.serve(free_port())
    try:
        samples = scrape(server.port)
    finally:
        server.close()
    assert samples[("courrier_worker_poll_errors_total", ())] == 1
    assert samples[("courrier_send_retries_total", (("reason", "throttled"),))] >= 1


def test_a_failing_store_leaves_the_gauges_out(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/gone.db")
    metrics = Metrics()
    metrics.watch_store(store, Settings())
    store.engine.dispose()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()
    families = {f.name for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert "courrier_messages" not in families
    assert "courrier_worker_batches" in families
