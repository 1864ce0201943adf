"""AWS clients: standard retries for reads, SQS and provisioning; one attempt for sends;
a missing region named with what to set."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, NoRegionError
from click.testing import CliRunner

from courrier.aws.clients import AwsConfig, client, endpoint_of
from courrier.aws.errors import translate
from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.cli import main
from courrier.errors import (
    AwsError,
    ConfigurationError,
    DailyQuotaExceeded,
    SendError,
    Throttled,
)
from courrier.provisioning import Aws
from courrier.sending.mailer import Mailer
from courrier.settings import Settings

ADVICE = ("AWS_DEFAULT_REGION", "region = ... in ~/.aws/config", "COURRIER_REGION")


class Failing(BaseHTTPRequestHandler):
    """An AWS endpoint having a bad day: every request gets a 500."""

    requests: list[str]

    def _fail(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append(self.path)
        body = b'{"__type": "InternalFailure", "message": "try again"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    requests: list[str] = []
    handler = type("Handler", (Failing,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
    yield requests
    server.shutdown()
    server.server_close()


def test_a_send_is_tried_once(failing: list[str]) -> None:
    with pytest.raises(SendError):
        SesClient().send_raw(
            b"Subject: x\r\n\r\nx",
            sender="a@example.com",
            destinations=["b@example.com"],
            configuration_set=None,
            tags={},
            feedback_address=None,
        )
    assert len(failing) == 1


def test_sqs_and_provisioning_calls_use_standard_retries(failing: list[str]) -> None:
    with pytest.raises(AwsError):
        SqsQueue("http://queue/1/q").attributes()
    assert len(failing) == 3
    with pytest.raises(AwsError):
        Aws().call("sqs", "ListQueues")
    assert len(failing) == 6
    with pytest.raises(AwsError), translate("GetAccount"):
        client("sesv2").get_account()  # reads of SES retry too; only sends do not
    assert len(failing) == 9


def test_a_missing_region_names_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError) as caught:
        Aws().account()
    message = str(caught.value)
    assert all(advice in message for advice in ADVICE), message
    assert "AWS_REGION" not in message.replace("AWS_DEFAULT_REGION", "")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # what the README once said to set
    with pytest.raises(ConfigurationError, match="AWS_REGION is set, but boto3 does not read it"):
        Aws().account()
    with pytest.raises(ConfigurationError, match="COURRIER_REGION"), translate("GetAccount"):
        raise NoRegionError


def test_courriers_region_setting_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("COURRIER_REGION", "eu-west-3")
    settings = Settings.load()
    assert Aws(AwsConfig(settings.profile, settings.region)).region == "eu-west-3"


def test_setup_without_a_region_exits_2_and_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = CliRunner().invoke(main, ["setup", "--identity", "a@example.com"])
    assert result.exit_code == 2
    assert "AWS_DEFAULT_REGION" in result.output
    assert "AWS_REGION is set, but boto3 does not read it" in " ".join(result.output.split())


SEND = ["send", "--from", "a@example.com", "--to", "b@example.com", "--subject", "s", "--text", "t"]


@pytest.mark.parametrize(
    ("variable", "value", "named", "every_service"),
    [
        ("AWS_DEFAULT_REGION", "", "AWS_DEFAULT_REGION is set but empty", True),
        ("AWS_ENDPOINT_URL", "127.0.0.1:4566", "from AWS_ENDPOINT_URL", True),
        ("AWS_ENDPOINT_URL_SESV2", "http://bad host", "from AWS_ENDPOINT_URL_SESV2", False),
    ],
)
def test_a_malformed_region_or_endpoint_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
    named: str,
    every_service: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    # What doctor needs before it makes a client: a pipeline set up.
    monkeypatch.setenv("COURRIER_IDENTITY", "a@example.com")
    monkeypatch.setenv("COURRIER_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:courrier")
    monkeypatch.setenv("COURRIER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/courrier")
    with pytest.raises(ConfigurationError, match=named):
        client("sesv2")
    with pytest.raises(ConfigurationError, match=named):
        Mailer.from_settings(Settings.load())
    # doctor reports it as its failed "credentials and region" check (exit 1); setup and
    # doctor ask STS and SNS first, which AWS_ENDPOINT_URL_SESV2 leaves alone.
    pipeline = [(["setup", "--identity", "a@example.com"], 2), (["doctor", "--no-probe"], 1)]
    for command, code in [(SEND, 2), *(pipeline if every_service else [])]:
        result = CliRunner().invoke(main, command)
        assert result.exit_code == code, (command, result.output)
        assert named in " ".join(result.output.split()), (command, result.output)


def test_an_empty_region_given_directly_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="courrier's region setting"):
        client("sesv2", AwsConfig(region=""))
    with pytest.raises(ConfigurationError, match=r"AWS endpoint for sqs: .*with its scheme"):
        client("sqs", AwsConfig(endpoint_url="localhost:4566"))


def _client_error(code: str, text: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": text},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "RequestId": "r",
                "HostId": "",
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "SendEmail",
    )


def test_an_aws_error_answer_keeps_its_code_message_and_status() -> None:
    with pytest.raises(AwsError) as plain, translate("ListQueues"):
        raise _client_error("AccessDenied", "not allowed", 403)
    assert type(plain.value) is AwsError
    assert str(plain.value) == "ListQueues: AccessDenied: not allowed"
    assert (plain.value.code, plain.value.aws_message, plain.value.status) == (
        "AccessDenied",
        "not allowed",
        403,
    )
    assert not plain.value.retryable
    with pytest.raises(Throttled) as sending, translate("SendEmail", sending=True):
        raise _client_error("TooManyRequestsException", "Maximum sending rate exceeded.", 400)
    assert str(sending.value) == (
        "SendEmail: TooManyRequestsException: Maximum sending rate exceeded. "
        "(slow down: the account's maximum send rate was exceeded)"
    )
    assert (sending.value.operation, sending.value.status) == ("SendEmail", 400)
    assert sending.value.retryable
    with pytest.raises(DailyQuotaExceeded) as quota, translate("SendEmail", sending=True):
        raise _client_error("Throttling", "Daily message quota exceeded.", 400)
    assert not quota.value.retryable


def test_the_endpoint_is_read_as_boto3_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SNS", raising=False)
    assert endpoint_of("sns") is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert endpoint_of("sns") == "http://127.0.0.1:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:5000")
    assert endpoint_of("sns") == "http://127.0.0.1:5000"
    assert endpoint_of("sqs") == "http://127.0.0.1:4566"
    assert (
        endpoint_of("sns", AwsConfig(endpoint_url="http://sandbox:4566")) == "http://sandbox:4566"
    )
