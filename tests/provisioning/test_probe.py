"""The doctor's probe: a temporary queue on the topic, removed however the probe ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import courrier.provisioning.probe as probe_module
from courrier.cli import main
from courrier.provisioning import Aws, doctor, setup, teardown
from courrier.provisioning.inventory import Queue
from courrier.provisioning.probe import _policy_like, probe_queue_name
from tests.conftest import SandboxClient
from tests.fakes import wait_until
from tests.provisioning.conftest import IDENTITY, Refusing, target

PROBES = "courrier-probe-"


def probe_queues(sandbox: SandboxClient) -> list[str]:
    urls = sandbox.sqs.list_queues(QueueNamePrefix=PROBES).get("QueueUrls", [])
    return sorted(url.rpartition("/")[2] for url in urls)


def endpoints(sandbox: SandboxClient, topic_arn: str) -> list[str]:
    found = sandbox.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    return sorted(s["Endpoint"].rpartition(":")[2] for s in found)


def leftover(sandbox: SandboxClient, topic_arn: str, expires: float) -> str:
    """A probe queue as a run killed before its clean-up leaves it: subscribed, not removed."""
    name = probe_queue_name(topic_arn, expires)
    url = sandbox.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sandbox.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sandbox.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return name


def an_hour_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's clock an hour on: every probe queue made until now has expired."""
    clock = types.SimpleNamespace(
        time=lambda: time.time() + 3600, monotonic=time.monotonic, sleep=time.sleep
    )
    monkeypatch.setattr(probe_module, "time", clock)


def test_a_successful_probe_leaves_nothing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="clean")
    assert doctor(aws, target(report), probe_timeout=10).statuses["end-to-end probe"] == "ok"
    assert probe_queues(sandbox) == []
    assert endpoints(sandbox, report.resources.topic_arn) == ["clean-feedback"]


def test_a_failed_probe_leaves_nothing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="failing")
    sandbox.sqs.set_queue_attributes(QueueUrl=report.queue_url, Attributes={"Policy": ""})
    # The probe queue gets the real queue's (missing) policy, so SNS drops its delivery too.
    assert doctor(aws, target(report), probe_timeout=2).statuses["end-to-end probe"] == "failed"
    assert probe_queues(sandbox) == []
    assert endpoints(sandbox, report.resources.topic_arn) == ["failing-feedback"]


class Interrupted(Aws):
    """Ctrl-C while the probe is at work: after ``operation`` is called."""

    def __init__(self, operation: str) -> None:
        super().__init__()
        self.operation = operation

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        if operation == self.operation:
            raise KeyboardInterrupt
        return super().call(service, operation, **params)


@pytest.mark.parametrize("operation", ["SendEmail", "ReceiveMessage"])
def test_an_interrupted_probe_leaves_nothing(
    aws: Aws, sandbox: SandboxClient, operation: str
) -> None:
    report = setup(aws, IDENTITY, prefix="interrupted")
    with pytest.raises(KeyboardInterrupt):
        doctor(Interrupted(operation), target(report), probe_timeout=5)
    assert probe_queues(sandbox) == []
    assert endpoints(sandbox, report.resources.topic_arn) == ["interrupted-feedback"]


def test_clean_up_failure_is_reported_and_the_next_run_removes_it(
    aws: Aws, sandbox: SandboxClient, refusing: type[Refusing], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = setup(aws, IDENTITY, prefix="stuck")
    result = doctor(refusing("DeleteQueue", "Unsubscribe"), target(report), probe_timeout=10)
    assert result.statuses["end-to-end probe"] == "ok"
    assert "could not be removed" in result["end-to-end probe"].detail
    [stuck] = probe_queues(sandbox)
    an_hour_later(monkeypatch)
    doctor(aws, target(report), probe_timeout=10)
    assert stuck not in probe_queues(sandbox)
    assert endpoints(sandbox, report.resources.topic_arn) == ["stuck-feedback"]


def test_leftovers_of_killed_runs_go_and_live_probes_stay(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="left")
    topic_arn = report.resources.topic_arn
    other = sandbox.sns.create_topic(Name="someone-elses")["TopicArn"]
    expired = leftover(sandbox, topic_arn, time.time() - 1)
    running = leftover(sandbox, topic_arn, time.time() + 600)  # a concurrent doctor run
    elsewhere = leftover(sandbox, other, time.time() - 1)  # another pipeline's
    assert expired in probe_queues(sandbox)
    assert doctor(aws, target(report), probe_timeout=10).statuses["end-to-end probe"] == "ok"
    assert probe_queues(sandbox) == sorted([running, elsewhere])
    assert endpoints(sandbox, topic_arn) == sorted(["left-feedback", running])
    teardown(aws, IDENTITY, prefix="left")
    assert probe_queues(sandbox) == [elsewhere]


def run_doctor_process(
    sandbox: SandboxClient, folder: Path, deliver: signal.Signals
) -> subprocess.CompletedProcess[str]:
    """``courrier doctor`` in its own process, sent ``deliver`` while its probe waits."""
    env = {**os.environ, "AWS_ENDPOINT_URL": sandbox.url}
    events_before = len(sandbox.controls.events())
    process = subprocess.Popen(
        [sys.executable, "-m", "courrier", "doctor", "--timeout", "60", "--no-dns"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def waiting() -> bool:
        assert process.poll() is None, process.communicate()
        return bool(
            probe_queues(sandbox)
            and len(sandbox.sns.list_subscriptions()["Subscriptions"]) >= 2
            # Its send recorded (simulator sends count in no quota): the probe now waits.
            and len(sandbox.controls.events()) > events_before
        )

    wait_until(waiting, timeout=60, interval=0.1, what="the probe never started")
    process.send_signal(deliver)
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_sigterm_cleans_up_and_sigkill_is_cleaned_by_the_next_run(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["setup", "--identity", IDENTITY]).exit_code == 0
    queue_url = sandbox.sqs.get_queue_url(QueueName="courrier-feedback")["QueueUrl"]
    # Without its policy the queue (and so the probe queue) gets nothing: the probe waits.
    sandbox.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": ""})

    terminated = run_doctor_process(sandbox, tmp_path, signal.SIGTERM)
    assert terminated.returncode != 0
    assert probe_queues(sandbox) == []

    killed = run_doctor_process(sandbox, tmp_path, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    [left] = probe_queues(sandbox)

    an_hour_later(monkeypatch)
    assert CliRunner().invoke(main, ["doctor", "--timeout", "1", "--no-dns"]).exit_code == 1
    assert probe_queues(sandbox) == []
    subscribed = [s["Endpoint"] for s in sandbox.sns.list_subscriptions()["Subscriptions"]]
    assert [e.rpartition(":")[2] for e in subscribed] == ["courrier-feedback"]
    assert left not in json.dumps(subscribed)


def test_the_probe_queue_gets_the_real_policy_aimed_at_itself() -> None:
    real_arn = "arn:aws:sqs:us-east-1:123456789012:mine-feedback"
    probe_arn = "arn:aws:sqs:us-east-1:123456789012:courrier-probe-x"
    topic_arn = "arn:aws:sns:us-east-1:123456789012:mine-feedback"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Exact",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": real_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": topic_arn}},
        },
        {
            "Sid": "Wildcard",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": ["arn:aws:sqs:*:*:mine-*", "arn:aws:sqs:*:*:unrelated"],
        },
    ]
    real = Queue("url", {"QueueArn": real_arn, "Policy": json.dumps({"Statement": statements})})
    aimed = json.loads(_policy_like(real, probe_arn, topic_arn) or "")["Statement"]
    assert aimed[0] == {**statements[0], "Resource": probe_arn}
    assert aimed[1] == {**statements[1], "Resource": [probe_arn, "arn:aws:sqs:*:*:unrelated"]}
    assert _policy_like(Queue("url", {"QueueArn": real_arn}), probe_arn, topic_arn) is None
    unread = json.loads(_policy_like(None, probe_arn, topic_arn) or "")["Statement"]
    assert unread[0]["Resource"] == probe_arn
    assert unread[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
