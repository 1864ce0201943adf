"""``courrier worker`` and ``courrier receive`` trust the same SNS topics: those given with
--allow-topic, else the configured topic_arn; with neither, both refuse to start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.cli.feedback import verifier_for
from courrier.errors import ConfigurationError, UntrustedTopic
from courrier.feedback.signature import SignatureVerifier
from courrier.feedback.topics import allowed_topics, check_topic
from courrier.settings import Settings
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.feedback.test_worker import bounce_body, pipeline_with_an_intruder

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


def test_the_rule() -> None:
    assert allowed_topics(["a", "b"], TOPIC) == {"a", "b"}
    assert allowed_topics([], TOPIC) == {TOPIC}
    for given, configured in (([], None), ([], ""), ([""], None)):
        with pytest.raises(ConfigurationError, match="--allow-topic"):
            allowed_topics(given, configured)
    check_topic(TOPIC, frozenset({TOPIC}))
    with pytest.raises(UntrustedTopic, match="not on the allow-list"):
        check_topic("arn:aws:sns:eu-west-1:123456789012:other", frozenset({TOPIC}))
    with pytest.raises(UntrustedTopic, match="raw message delivery"):
        check_topic(None, frozenset({TOPIC}))


def _worker_args(queue_url: str) -> list[str]:
    # The sandbox's SNS signs with certificates AWS does not serve.
    return [
        "worker",
        "--queue-url",
        queue_url,
        "--until-idle",
        "--wait",
        "0",
        "--no-verify-signatures",
    ]


def test_both_refuse_to_start_without_a_topic(
    env: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/t.db")
    monkeypatch.chdir(tmp_path)
    pipeline = env.pipeline()
    env.sns.publish(TopicArn=pipeline.topic_arn, Message=bounce_body(1))
    runner = CliRunner()
    for args in (_worker_args(pipeline.queue_url), ["receive", "--port", "0"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert "no SNS topic allowed: give --allow-topic ARN" in result.output
    # Nothing was taken from the queue.
    left = env.sqs.get_queue_attributes(
        QueueUrl=pipeline.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "1"


def test_worker_defaults_to_the_configured_topic(
    env: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path}/t.db"
    monkeypatch.setenv("COURRIER_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    pipeline = pipeline_with_an_intruder(env)
    monkeypatch.setenv("COURRIER_TOPIC_ARN", pipeline.topic_arn)

    result = CliRunner().invoke(main, _worker_args(pipeline.queue_url))

    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["rejected"] == 1
    store = Store(database_url)
    assert [s.address for s in store.suppressions()] == ["user1@example.net"]
    store.close()


def test_signatures_are_checked_unless_turned_off() -> None:
    on, off = Settings(), Settings(verify_signatures=False)
    assert isinstance(verifier_for(None, on), SignatureVerifier)
    assert verifier_for(None, off) is None
    assert verifier_for(False, on) is None
    assert isinstance(verifier_for(True, off), SignatureVerifier)


def test_receive_no_verify_still_works_and_says_it_is_deprecated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["receive", "--port", "0", "--no-verify"])
    assert "--no-verify is deprecated; use --no-verify-signatures" in result.output
    assert result.exit_code == 2  # and then the missing allow-list, as without it
    assert "no SNS topic allowed" in result.output
    for command in ("worker", "receive"):
        helped = CliRunner().invoke(main, [command, "--help"]).output
        assert "--verify-signatures / --no-verify-signatures" in helped
