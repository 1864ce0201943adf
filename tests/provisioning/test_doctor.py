"""doctor: policies judged for the real caller, checks that could not run, and one read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.provisioning import (
    Aws,
    Check,
    CheckStatus,
    DoctorExit,
    DoctorReport,
    DoctorTarget,
    doctor,
    setup,
)
from courrier.provisioning.doctor import CHECKS
from tests.conftest import SandboxClient
from tests.provisioning.conftest import IDENTITY, Refusing, target

SOURCE = "src/courrier/provisioning"


def narrow_topic_policy(topic_arn: str, source_arn: str) -> str:
    """Only SES publishing as ``source_arn``: the tightest policy AWS documents
    (docs/ses.md#notifications, docs/ses.md#event-publishing)."""
    account = topic_arn.split(":")[4]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyThisSender",
                    "Effect": "Allow",
                    "Principal": {"Service": "ses.amazonaws.com"},
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"AWS:SourceAccount": account},
                        "ArnEquals": {"AWS:SourceArn": source_arn},
                    },
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("route", "mine", "other"),
    [
        ("notifications", "identity/sender@example.com", "identity/someone-else@example.com"),
        ("events", "configuration-set/scoped", "configuration-set/another-set"),
    ],
)
def test_topic_policy_is_judged_for_the_real_identity_or_set(
    aws: Aws, sandbox: SandboxClient, route: str, mine: str, other: str
) -> None:
    report = setup(aws, IDENTITY, route=route, prefix="scoped")
    topic_arn = report.resources.topic_arn
    ses_arn = topic_arn.replace(":sns:", ":ses:").rsplit(":", 1)[0]
    for source, expected in ((mine, "ok"), (other, "failed")):
        sandbox.sns.set_topic_attributes(
            TopicArn=topic_arn,
            AttributeName="Policy",
            AttributeValue=narrow_topic_policy(topic_arn, f"{ses_arn}:{source}"),
        )
        check = doctor(aws, target(report), probe=False)["topic policy"]
        assert check.status == expected, check
        assert f"{ses_arn}:{mine}" in check.detail


def test_forwarding_is_unknown_when_the_identity_cannot_be_read(
    aws: Aws, refusing: type[Refusing]
) -> None:
    report = setup(aws, IDENTITY, prefix="unread")
    result = doctor(refusing("GetEmailIdentity"), target(report), probe=False)
    for name in ("identity verified", "email feedback forwarding"):
        assert result[name].status == "unknown"
        assert "AccessDenied" in result[name].detail
    assert result.statuses["topic policy"] == "ok"
    assert result.exit_code == DoctorExit.UNKNOWN
    assert int(result.exit_code) == 3


def test_forwarding_is_unknown_without_an_identity(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="noid")
    sandbox.ses.delete_identity(Identity=IDENTITY)
    result = doctor(aws, target(report), probe=False)
    assert result.statuses["identity verified"] == "failed"
    assert result["email feedback forwarding"].status == "unknown"
    assert result.exit_code == DoctorExit.FAILED


def test_unreadable_queue_and_account_are_unknown(
    aws: Aws, sandbox: SandboxClient, refusing: type[Refusing]
) -> None:
    report = setup(aws, IDENTITY, prefix="noqueue")
    result = doctor(refusing("GetQueueAttributes", "GetAccount"), target(report), probe_timeout=2)
    for name in ("queue policy", "subscription", "dead-letter queue", "queue encryption"):
        assert result[name].status == "unknown", result[name]
    assert result["SES account"].status == "unknown"
    # The probe could not even make its temporary queue's policy: unknown, and nothing left.
    assert result["end-to-end probe"].status == "unknown"
    assert sandbox.sqs.list_queues(QueueNamePrefix="courrier-probe-").get("QueueUrls", []) == []
    assert result.exit_code == DoctorExit.UNKNOWN


def test_missing_queue_fails_once_and_leaves_the_rest_unknown(
    aws: Aws, sandbox: SandboxClient
) -> None:
    report = setup(aws, IDENTITY, prefix="gonequeue")
    sandbox.sqs.delete_queue(QueueUrl=report.queue_url)
    result = doctor(aws, target(report), probe=False)
    assert result.statuses["queue policy"] == "failed"
    assert "does not exist" in result["queue policy"].detail
    assert {result.statuses[n] for n in ("subscription", "dead-letter queue")} == {"unknown"}


def test_without_a_region_the_credentials_check_says_what_to_set(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = doctor(Aws(), DoctorTarget(IDENTITY, "arn:aws:sns:x:1:t", "http://q/1/q", None))
    credentials = result["credentials and region"]
    assert credentials.status == "failed"
    for advice in ("AWS_DEFAULT_REGION", "COURRIER_REGION", "AWS_REGION is set"):
        assert advice in credentials.detail
    assert [c.name for c in result] == list(CHECKS)
    assert {c.status for c in list(result)[1:]} == {"unknown"}
    assert result.exit_code == DoctorExit.FAILED


def test_exit_codes_and_json() -> None:
    def report(*statuses: CheckStatus) -> DoctorReport:
        return DoctorReport(tuple(Check(f"c{n}", s, "d") for n, s in enumerate(statuses)))

    assert report(CheckStatus.OK, CheckStatus.WARNING).exit_code == 0
    assert report(CheckStatus.OK, CheckStatus.UNKNOWN).exit_code == 3
    assert report(CheckStatus.UNKNOWN, CheckStatus.FAILED).exit_code == 1
    assert json.dumps(report(CheckStatus.UNKNOWN).as_dict()) == json.dumps(
        {"checks": [{"check": "c0", "status": "unknown", "detail": "d", "fix": ""}], "exit_code": 3}
    )


def test_cli_exits_3_when_a_check_could_not_run(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["setup", "--identity", IDENTITY]).exit_code == 0
    sandbox.ses.delete_identity(Identity=IDENTITY)
    failed = runner.invoke(main, ["doctor", "--no-probe", "--json", "--no-dns"])
    assert failed.exit_code == 1
    lines = {json.loads(line)["check"]: json.loads(line) for line in failed.output.splitlines()}
    assert lines["email feedback forwarding"]["status"] == "unknown"
    monkeypatch.setattr("courrier.cli.pipeline._aws", lambda settings: Refusing("GetEmailIdentity"))
    unknown = runner.invoke(main, ["doctor", "--no-probe", "--no-dns"])
    assert unknown.exit_code == 3, unknown.output
    assert "unknown email feedback forwarding" in " ".join(unknown.output.split())


@pytest.mark.parametrize("route", ["events", "notifications"])
def test_each_part_is_read_once(aws: Aws, refusing: type[Refusing], route: str) -> None:
    setup(aws, IDENTITY, route=route, prefix="once")
    counting = refusing()
    report = setup(counting, IDENTITY, route=route, prefix="once")
    assert not report.changed
    doctor(counting, target(report), probe=False)
    for operation in ("GetTopicAttributes", "ListSubscriptionsByTopic", "GetEmailIdentity"):
        assert counting.calls.count(operation) == 2, operation  # one for setup, one for doctor


def test_lookups_and_error_codes_live_in_one_place() -> None:
    files = {path.name: path.read_text() for path in Path(SOURCE).glob("*.py")}
    for operation in ("GetTopicAttributes", "ListSubscriptionsByTopic", "GetEmailIdentity"):
        assert [name for name, text in files.items() if f'"{operation}"' in text] == [
            "inventory.py"
        ], operation
    for code in ('"NotFound"', '"NotFoundException"', '"QueueDoesNotExist"'):
        assert [name for name, text in files.items() if code in text] == ["aws.py"], code
