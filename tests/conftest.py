"""Fixtures shared by the whole suite: the offline sandbox and AWS clients pointed at it."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from courrier_sandbox import Sandbox, SesOptions, SimulatorOptions
from courrier_sandbox.client import SandboxControl

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from courrier.store import Store

REGION = "us-east-1"
SENDER = "sender@example.com"


def boto3_client(service: str, **options: Any) -> Any:
    """``boto3.client`` for a service named at run time (its stubs type each literal name)."""
    make: Any = boto3.client
    return make(service, **options)


def free_port() -> int:
    """A loopback port nothing listens on (for a server to start, or to be refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def uvicorn_serving(app: Starlette, port: int) -> Iterator[str]:
    """``app`` served by uvicorn on a loopback ``port`` for the block; its base URL."""
    import uvicorn

    from tests.fakes import wait_until

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="the dashboard did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never depend on the developer's shell: no real AWS profile or endpoint."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "COURRIER_")) and name not in (
            "COURRIER_REQUIRE_POSTGRES",
            "COURRIER_TEST_POSTGRES_URL",
            "COURRIER_REQUIRE_BROWSER",
            "COURRIER_SCREENSHOTS",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    server = Sandbox(options=SesOptions(simulator=SimulatorOptions(delay=0.01)))
    server.start()
    yield server
    server.stop()


@dataclass
class Pipeline:
    topic_arn: str
    queue_url: str
    queue_arn: str


@dataclass
class SandboxClient:
    """The sandbox as a test sees it: its URL, boto3 clients and a few helpers."""

    server: Sandbox
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3_client(
                service,
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                # botocore retries throttling on its own; tests want to see every answer.
                config=Config(retries={"total_max_attempts": 1}),
            )
        return self.clients[service]

    @property
    def ses(self) -> Any:
        return self.client("ses")

    @property
    def sesv2(self) -> Any:
        return self.client("sesv2")

    @property
    def sns(self) -> Any:
        return self.client("sns")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def controls(self) -> SandboxControl:
        """The sandbox's typed client of its ``/_courrier/`` routes."""
        return SandboxControl(self.url)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """One ``/_courrier{path}`` call: its JSON answer; a refusal is urllib's HTTPError,
        left open for the test to read."""
        with self.controls.urlopen(method, path, body) as response:
            return json.loads(response.read())

    def set_account(self, **changes: Any) -> None:
        self.control("POST", "/account", changes)

    def pipeline(self, *, policy: bool = True, raw: bool = False) -> Pipeline:
        """A topic and a queue subscribed to it, with the queue policy unless told otherwise."""
        name = f"feedback-{uuid.uuid4().hex[:8]}"
        topic_arn = self.sns.create_topic(Name=name)["TopicArn"]
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        if policy:
            self.sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": queue_policy(queue_arn, topic_arn)}
            )
        attributes = {"RawMessageDelivery": "true"} if raw else {}
        self.sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes
        )
        return Pipeline(topic_arn, queue_url, queue_arn)

    def visible(self, queue_url: str) -> int:
        """The messages SQS would hand out now: one whose visibility timeout ran out counts."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def drain(self) -> None:
        assert self.server.drain(10), "sandbox feedback did not drain"

    def receive_all(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message now on the queue (after feedback drained), deleted as read."""
        self.drain()
        bodies: list[dict[str, Any]] = []
        while True:
            found = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not found:
                return bodies
            for message in found:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def feedback(self, queue_url: str) -> list[dict[str, Any]]:
        """The SES payloads delivered to the queue, setup messages left out."""
        payloads = []
        for envelope in self.receive_all(queue_url):
            message = envelope["Message"]
            if message.startswith("Successfully validated"):
                continue
            payload = json.loads(message)
            if payload.get("notificationType") == "AmazonSnsSubscriptionSucceeded":
                continue
            payloads.append({"envelope": envelope, **payload})
        return payloads


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowFeedbackTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[SandboxClient]:
    """A sandbox with nothing in it: no identities, topics, queues or mail."""
    sandbox_server.app.reset()
    client = SandboxClient(sandbox_server)
    client.set_account(max_send_rate=1000.0, max_24_hour_send=-1.0)
    yield client
    sandbox_server.drain()


@pytest.fixture
def env(sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> SandboxClient:
    """The sandbox as courrier's own clients find it: through boto3's standard chain."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    return sandbox


# ---------------------------------------------------------------------- the store


def _postgres_url() -> str | None:
    url = os.environ.get("COURRIER_TEST_POSTGRES_URL")
    required = os.environ.get("COURRIER_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("COURRIER_REQUIRE_POSTGRES=1 but COURRIER_TEST_POSTGRES_URL is not set")
        pytest.skip(
            "PostgreSQL tests need COURRIER_TEST_POSTGRES_URL (e.g. "
            "postgresql://postgres@127.0.0.1:5432/test)"
        )
    return url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema in the test PostgreSQL, dropped afterwards."""
    url = _postgres_url()
    assert url is not None
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"courrier_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as err:
        if os.environ.get("COURRIER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable: {err}")
        pytest.skip(f"PostgreSQL unreachable at {plain}: {err}")
    separator = "&" if "?" in plain else "?"
    try:
        yield f"{plain}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/courrier.db"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    from courrier.store import Store

    opened = Store(database_url)
    yield opened
    opened.close()


@pytest.fixture(params=[1, 4], ids=["one-batch", "concurrent"])
def concurrency(request: pytest.FixtureRequest) -> int:
    """The worker's concurrency: one batch at a time, and receivers feeding one applier."""
    return int(request.param)


#: Settings under which bulk sends carry one-click unsubscribe links (courrier.unsubscribe):
#: without them, or an opt-out, a bulk send is refused.
UNSUBSCRIBE: dict[str, Any] = {
    "unsubscribe_url": "https://mail.example.com/unsubscribe",
    "unsubscribe_secret": "tests-unsubscribe-secret",
}
