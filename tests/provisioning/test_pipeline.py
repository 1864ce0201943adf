"""setup, doctor and teardown against the sandbox, including every broken link on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.errors import ConfigurationError
from courrier.provisioning import Aws, doctor, setup, teardown
from courrier.provisioning.checks import Check
from tests.conftest import SandboxClient
from tests.provisioning.conftest import IDENTITY, target


def statuses(checks: Iterable[Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


@pytest.mark.parametrize("route", ["events", "notifications"])
def test_setup_twice_then_doctor(aws: Aws, route: str) -> None:
    first = setup(aws, IDENTITY, route=route, prefix="t")
    assert first.changed
    second = setup(aws, IDENTITY, route=route, prefix="t")
    assert not second.changed
    assert {c.action for c in second.changes} == {"unchanged"}
    summary = json.loads(json.dumps(second.as_dict()))
    assert {c["action"] for c in summary["changes"]} == {"unchanged"}
    assert summary["settings"]["route"] == route
    assert summary["changed"] is False
    checks = doctor(aws, target(second), probe_timeout=10)
    assert statuses(checks) == {
        "credentials and region": "ok",
        "identity verified": "ok",
        "SES account": "warning",  # a new account is in the SES sandbox
        "feedback route": "ok",
        "email feedback forwarding": "ok",
        "topic policy": "ok",
        "queue policy": "ok",
        "subscription": "ok",
        "dead-letter queue": "ok",
        "queue encryption": "ok",
        "end-to-end probe": "ok",
    }


def test_dry_run_changes_nothing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="dry", dry_run=True)
    assert {c.action for c in report.changes} <= {"create", "update"}
    assert sandbox.sns.list_topics()["Topics"] == []
    assert sandbox.sqs.list_queues().get("QueueUrls", []) == []
    assert sandbox.ses.list_identities()["Identities"] == []


def test_domain_identity_prints_dns_records(aws: Aws) -> None:
    report = setup(aws, "Bücher.example", prefix="dom")
    assert report.resources.identity == "xn--bcher-kva.example"
    kinds = [record[0] for record in report.dns_records]
    assert kinds == ["TXT", "CNAME", "CNAME", "CNAME"]
    assert report.dns_records[0][1] == "_amazonses.xn--bcher-kva.example"
    assert report.dns_records[1][2].endswith(".dkim.amazonses.com")


def test_bad_arguments(aws: Aws) -> None:
    with pytest.raises(ConfigurationError, match="route"):
        setup(aws, IDENTITY, route="carrier-pigeon")
    with pytest.raises(ConfigurationError, match="prefix"):
        setup(aws, IDENTITY, prefix="no spaces")
    with pytest.raises(ConfigurationError, match="route"):
        teardown(aws, IDENTITY, route="carrier-pigeon")


def test_queue_policy_missing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="nopolicy")
    sandbox.sqs.set_queue_attributes(QueueUrl=report.queue_url, Attributes={"Policy": ""})
    checks = {c.name: c for c in doctor(aws, target(report), probe_timeout=3)}
    assert checks["queue policy"].status == "failed"
    assert "SNS drops every delivery" in checks["queue policy"].detail
    assert checks["end-to-end probe"].status == "failed"
    assert "queue policy" in checks["end-to-end probe"].fix
    assert setup(aws, IDENTITY, prefix="nopolicy").changed  # setup repairs it
    assert statuses(doctor(aws, target(report), probe_timeout=10))["end-to-end probe"] == "ok"


def test_notifications_not_mapped(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, route="notifications", prefix="unmapped")
    sandbox.ses.set_identity_notification_topic(Identity=IDENTITY, NotificationType="Bounce")
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["feedback route"].status == "failed"
    assert "Bounce" in checks["feedback route"].detail
    assert checks["feedback route"].fix == "courrier setup --route notifications"


def test_event_destination_missing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="nodest")
    sandbox.sesv2.delete_configuration_set_event_destination(
        ConfigurationSetName="nodest", EventDestinationName="sns"
    )
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["feedback route"].status == "failed"


def test_forwarding_on(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="fwd")
    sandbox.sesv2.put_email_identity_feedback_attributes(
        EmailIdentity=IDENTITY, EmailForwardingEnabled=True
    )
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["email feedback forwarding"].status == "warning"
    assert "inbox" in checks["email feedback forwarding"].detail


def test_identity_unverified(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="unver")
    sandbox.ses.delete_identity(Identity=IDENTITY)
    checks = {c.name: c for c in doctor(aws, target(report), probe_timeout=2)}
    assert checks["identity verified"].status == "failed"
    assert checks["identity verified"].fix == f"courrier setup --identity {IDENTITY}"
    assert checks["end-to-end probe"].status == "failed"
    assert "not verified" in checks["end-to-end probe"].detail


def test_pending_identity(aws: Aws, sandbox: SandboxClient) -> None:
    options = sandbox.server.app.ses.options
    sandbox.server.app.ses.options = type(options)(pending_identities=True)
    try:
        report = setup(aws, IDENTITY, prefix="pending")
    finally:
        sandbox.server.app.ses.options = options
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["identity verified"].status == "failed"
    assert "pending" in checks["identity verified"].detail


def test_dead_letter_queue_missing(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="nodlq")
    sandbox.sqs.set_queue_attributes(QueueUrl=report.queue_url, Attributes={"RedrivePolicy": ""})
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["dead-letter queue"].status == "failed"
    assert "poison" in checks["dead-letter queue"].detail


def test_topic_policy_without_ses(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="notopic")
    sandbox.sns.set_topic_attributes(
        TopicArn=report.resources.topic_arn,
        AttributeName="Policy",
        AttributeValue=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    checks = {c.name: c for c in doctor(aws, target(report), probe=False)}
    assert checks["topic policy"].status == "failed"


def test_kms_and_raw_delivery(aws: Aws, sandbox: SandboxClient) -> None:
    report = setup(aws, IDENTITY, prefix="kms")
    sandbox.sqs.set_queue_attributes(
        QueueUrl=report.queue_url, Attributes={"KmsMasterKeyId": "alias/aws/sqs"}
    )
    [subscription] = sandbox.sns.list_subscriptions_by_topic(TopicArn=report.resources.topic_arn)[
        "Subscriptions"
    ]
    sandbox.sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    checks = {c.name: c for c in doctor(aws, target(report), probe_timeout=2)}
    assert checks["queue encryption"].status == "failed"
    assert checks["subscription"].status == "warning"
    assert checks["end-to-end probe"].status == "failed"


def test_teardown_removes_everything(aws: Aws, sandbox: SandboxClient) -> None:
    setup(aws, IDENTITY, prefix="gone")
    changes = teardown(aws, IDENTITY, prefix="gone", delete_identity=True)
    assert {c.action for c in changes} == {"delete"}
    assert sandbox.sns.list_topics()["Topics"] == []
    assert sandbox.sqs.list_queues().get("QueueUrls", []) == []
    assert sandbox.sesv2.list_configuration_sets()["ConfigurationSets"] == []
    assert sandbox.ses.list_identities()["Identities"] == []
    again = teardown(aws, IDENTITY, prefix="gone")
    assert {c.action for c in again} == {"absent"}


def test_teardown_notifications_route(aws: Aws, sandbox: SandboxClient) -> None:
    setup(aws, IDENTITY, route="notifications", prefix="n")
    teardown(aws, IDENTITY, route="notifications", prefix="n")
    attributes = sandbox.ses.get_identity_notification_attributes(Identities=[IDENTITY])[
        "NotificationAttributes"
    ][IDENTITY]
    assert "BounceTopic" not in attributes
    assert sandbox.ses.list_identities()["Identities"] == [IDENTITY]


def test_commands(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "courrier.toml").write_text("[courrier]\nsend_attempts = 3\n\n[other]\nx = 1\n")
    runner = CliRunner()
    planned = runner.invoke(main, ["setup", "--identity", IDENTITY, "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert "would create" in planned.output
    first = runner.invoke(main, ["setup", "--identity", IDENTITY])
    assert first.exit_code == 0, first.output
    assert "pipeline ready" in first.output
    second = runner.invoke(main, ["setup", "--identity", IDENTITY])
    assert "no changes: everything was already in place" in second.output
    config = (tmp_path / "courrier.toml").read_text()
    assert "send_attempts = 3" in config
    assert "[other]" in config
    assert 'queue_url = "http' in config
    # The sandbox's SNS signs with certificates AWS does not serve: the worker below could
    # not check them, and setup says so in the file instead of each command needing a flag.
    assert "verify_signatures = false" in config
    doctor_run = runner.invoke(main, ["doctor", "--json", "--timeout", "10", "--no-dns"])
    assert doctor_run.exit_code == 0, doctor_run.output
    lines = [json.loads(line) for line in doctor_run.output.splitlines()]
    assert {line["status"] for line in lines} == {"ok", "warning"}
    # The written settings drive the rest: send (sender and configuration set from
    # courrier.toml), then the worker (queue from courrier.toml) fills the suppression list.
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/flow.db")
    sent = runner.invoke(
        main, ["send", "--to", "bounce@simulator.amazonses.com", "--subject", "s", "--text", "t"]
    )
    assert sent.exit_code == 0, sent.output
    sandbox.drain()
    worked = runner.invoke(main, ["worker", "--until-idle", "--wait", "1"])
    assert worked.exit_code == 0, worked.output
    listed = runner.invoke(main, ["suppression", "list", "--json"])
    assert [json.loads(line)["address"] for line in listed.output.splitlines()] == [
        "bounce@simulator.amazonses.com"
    ]
    sandbox.sqs.set_queue_attributes(
        QueueUrl=sandbox.sqs.get_queue_url(QueueName="courrier-feedback")["QueueUrl"],
        Attributes={"Policy": ""},
    )
    broken = runner.invoke(main, ["doctor", "--timeout", "2", "--no-dns"])
    assert broken.exit_code == 1
    assert "failed queue policy" in broken.output.replace("  ", " ")
    refused = runner.invoke(main, ["teardown"], input="n\n")
    assert refused.exit_code == 1
    removed = runner.invoke(main, ["teardown", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "queue_url" not in (tmp_path / "courrier.toml").read_text()
    nothing = runner.invoke(main, ["doctor", "--no-dns"])
    assert nothing.exit_code == 2
    assert "run courrier setup" in nothing.output


def test_demo_command_succeeds_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    result = subprocess.run(
        [sys.executable, "-m", "courrier", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**env, "COLUMNS": "160"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every outcome is the one AWS documents" in result.stdout
    assert f"next: courrier --database-url sqlite:///{tmp_path}/courrier.db dashboard" in (
        result.stdout.replace("\n", "")
    )
    for case in ("success", "bounce", "ooto", "complaint", "suppressionlist", "unicode", "eicar"):
        assert case in result.stdout


def test_setup_makes_the_contact_list_and_teardown_removes_only_its_own(
    aws: Aws, sandbox: SandboxClient
) -> None:
    report = setup(aws, IDENTITY, prefix="subs", contact_list="customers", topics=["weekly"])
    assert [(c.resource, c.action) for c in report.changes][-1] == (
        "contact list customers",
        "create",
    )
    assert report.settings()["unsubscribe_contact_list"] == "customers"
    assert report.settings()["unsubscribe_topic"] == "weekly"
    found = sandbox.sesv2.get_contact_list(ContactListName="customers")
    assert [t["TopicName"] for t in found["Topics"]] == ["weekly"]
    # Again: nothing changes; a new topic joins those the list has.
    again = setup(aws, IDENTITY, prefix="subs", contact_list="customers", topics=["weekly"])
    assert not again.changed
    sandbox.sesv2.create_contact(ContactListName="customers", EmailAddress="a@example.net")
    more = setup(
        aws, IDENTITY, prefix="subs", contact_list="customers", topics=["weekly", "offers"]
    )
    assert more.changes[-1].action == "update"
    found = sandbox.sesv2.get_contact_list(ContactListName="customers")
    assert [t["TopicName"] for t in found["Topics"]] == ["weekly", "offers"]
    assert sandbox.sesv2.get_contact(ContactListName="customers", EmailAddress="a@example.net")

    changes = teardown(aws, IDENTITY, prefix="subs", contact_list="customers")
    assert ("contact list customers", "delete") in [(c.resource, c.action) for c in changes]
    assert sandbox.sesv2.list_contact_lists()["ContactLists"] == []


def test_teardown_keeps_a_contact_list_setup_did_not_make(aws: Aws, sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_contact_list(ContactListName="theirs")
    setup(aws, IDENTITY, prefix="subs", contact_list="theirs", topics=["weekly"])
    changes = teardown(aws, IDENTITY, prefix="subs", contact_list="theirs")
    [kept] = [c for c in changes if c.resource == "contact list theirs"]
    assert (kept.action, kept.detail) == ("unchanged", "not created by courrier setup: kept")
    assert sandbox.sesv2.get_contact_list(ContactListName="theirs")["Topics"][0]["TopicName"] == (
        "weekly"
    )


@pytest.mark.parametrize(
    ("contact_list", "topics", "message"),
    [
        (None, ["weekly"], "--topic needs --contact-list"),
        ("bad name", [], "contact list or topic 'bad name'"),
        ("customers", ["x" * 65], "contact list or topic"),
    ],
)
def test_contact_list_arguments_are_checked(
    aws: Aws, contact_list: str | None, topics: list[str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        setup(aws, IDENTITY, contact_list=contact_list, topics=topics)


def test_setup_and_teardown_commands_with_a_contact_list(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["setup", "--identity", IDENTITY, "--contact-list", "customers", "--topic", "news"],
    )
    assert made.exit_code == 0, made.output
    config = (tmp_path / "courrier.toml").read_text()
    assert 'unsubscribe_contact_list = "customers"' in config
    assert 'unsubscribe_topic = "news"' in config
    removed = runner.invoke(main, ["teardown", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "contact list customers: delete" in removed.output
    assert "unsubscribe_contact_list" not in (tmp_path / "courrier.toml").read_text()
    assert sandbox.sesv2.list_contact_lists()["ContactLists"] == []
