"""``--latency MS[,JITTER]``: every SES, SNS and SQS answer takes AWS-like time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier_sandbox import Latency, Sandbox
from courrier_sandbox.errors import SandboxError
from tests.conftest import REGION, boto3_client


@pytest.fixture(scope="module")
def slow() -> Iterator[str]:
    with Sandbox(latency=Latency(80, 20)) as url:
        yield url


def client(url: str, service: str) -> Any:
    return boto3_client(service, endpoint_url=url, region_name=REGION)


def timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def test_every_service_answers_after_the_delay(slow: str) -> None:
    ses, sesv2, sns, sqs = (client(slow, s) for s in ("ses", "sesv2", "sns", "sqs"))
    calls = [ses.get_send_quota, sesv2.get_account, sns.list_topics, sqs.list_queues] * 2
    durations = [timed(call) for call in calls]
    assert min(durations) >= 0.060  # 80 ms less the 20 ms jitter
    assert len({round(d, 3) for d in durations}) > 1  # the jitter varies


def test_long_poll_is_not_delayed_beyond_its_wait(slow: str) -> None:
    sqs = client(slow, "sqs")
    queue = sqs.create_queue(QueueName="latency-long-poll")["QueueUrl"]
    took = timed(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1))
    assert 1.0 <= took < 1.07  # the wait already covers the 60-100 ms delay


def test_control_pages_and_the_default_are_not_delayed(slow: str) -> None:
    import urllib.request

    assert timed(lambda: urllib.request.urlopen(f"{slow}/_courrier/health").close()) < 0.06
    assert not Latency()


@pytest.mark.parametrize(
    ("text", "expected"), [("20", Latency(20, 0)), ("20,5", Latency(20, 5)), ("0", Latency())]
)
def test_parse(text: str, expected: Latency) -> None:
    assert Latency.parse(text) == expected


@pytest.mark.parametrize("text", ["fast", "20,", "-5", "20,x", "1e9"])
def test_bad_values_are_refused(text: str) -> None:
    with pytest.raises(SandboxError):
        Latency.parse(text)
    result = CliRunner().invoke(main, ["sandbox", "--port", "0", "--latency", text])
    assert result.exit_code == 1
    assert "latency" in result.output
