"""``courrier send`` and ``courrier suppression`` through click, against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.store import Store
from tests.conftest import SandboxClient


@pytest.fixture
def cli(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    sandbox.ses.verify_email_identity(EmailAddress="sender@example.com")
    return CliRunner()


def test_send_prints_the_message_id(cli: CliRunner, sandbox: SandboxClient, tmp_path: Path) -> None:
    sandbox.ses.verify_email_identity(EmailAddress="friend@example.net")
    (tmp_path / "body.html").write_text("<p>Hello</p>")
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    result = cli.invoke(
        main,
        [
            "send",
            "--from",
            "Zoë <sender@example.com>",
            "--to",
            "friend@example.net",
            "--subject",
            "Report",
            "--text",
            "See attached",
            "--html",
            "body.html",
            "--attach",
            "report.csv",
            "--tag",
            "campaign=weekly",
        ],
    )
    assert result.exit_code == 0, result.output
    message_id = result.stdout.strip()
    sandbox.drain()
    [letter] = sandbox.control("GET", "/mailbox?recipient=friend@example.net")["messages"]
    assert letter["ses_message_id"] == message_id
    full = sandbox.control("GET", f"/mailbox/{letter['id']}")
    assert full["attachments"] == ["report.csv"]
    assert full["html"].strip() == "<p>Hello</p>"


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--to", "jürgen@example.com"], 2, "SMTPUTF8"),
        (["--to", "x@example.org", "--tag", "novalue"], 2, "NAME=VALUE"),
        (["--to", "stranger@example.org"], 1, "IdentityNotVerified"),
        (
            ["--to", "success@simulator.amazonses.com", "--configuration-set", "nope"],
            1,
            "ConfigurationSetMissing",
        ),
    ],
)
def test_send_errors(cli: CliRunner, args: list[str], code: int, text: str) -> None:
    result = cli.invoke(
        main, ["send", "--from", "sender@example.com", "--subject", "s", "--text", "t", *args]
    )
    assert result.exit_code == code, result.output
    assert text in result.output
    assert "Traceback" not in result.output


def test_send_needs_a_sender(cli: CliRunner) -> None:
    result = cli.invoke(main, ["send", "--to", "a@example.org", "--subject", "s", "--text", "t"])
    assert result.exit_code == 2
    assert "no sender" in result.output


def test_suppression_commands(cli: CliRunner, tmp_path: Path) -> None:
    added = cli.invoke(
        main,
        [
            "suppression",
            "add",
            "Bad@Example.org",
            "other@example.org",
            "--reason",
            "complaint",
            "--detail",
            "asked by phone",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "suppressed Bad@example.org" in added.output
    listed = cli.invoke(main, ["suppression", "list", "--json"])
    assert listed.exit_code == 0
    assert '"address": "bad@example.org"' in listed.output
    assert '"reason": "complaint"' in listed.output
    table = cli.invoke(main, ["suppression", "list"])
    assert "2 suppressed" in table.output
    sent = cli.invoke(
        main,
        [
            "send",
            "--from",
            "sender@example.com",
            "--to",
            "bad@example.org",
            "--subject",
            "s",
            "--text",
            "t",
        ],
    )
    assert sent.exit_code == 1
    assert "every recipient is on the suppression list" in sent.output
    removed = cli.invoke(main, ["suppression", "remove", "bad@example.org", "nobody@example.org"])
    assert removed.exit_code == 1
    assert "removed bad@example.org" in removed.output
    assert "nobody@example.org was not suppressed" in removed.output
    store = Store(f"sqlite:///{tmp_path}/cli.db")
    assert [s.address for s in store.suppressions()] == ["other@example.org"]
    store.close()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_misspelled_config_file_is_a_usage_error_not_the_defaults(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.delenv("COURRIER_DATABASE_URL")
    args = ["suppression", "list"]
    if how == "option":
        args = ["--config", "courrier.tmol", *args]
    else:
        monkeypatch.setenv("COURRIER_CONFIG", "courrier.tmol")
    result = cli.invoke(main, args)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "courrier.tmol" in line
    assert not (tmp_path / "courrier.db").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["suppression", "add", "x@example.com"],
        ["suppression", "list"],
        ["stats", "--no-account"],
        ["outbox", "run", "--until-empty"],
        [
            "send",
            "--from",
            "sender@example.com",
            "--to",
            "a@example.com",
            "--subject",
            "s",
            "--text",
            "t",
        ],
        [
            "worker",
            "--queue-url",
            "https://sqs.us-east-1.amazonaws.com/1/q",
            "--allow-topic",
            "arn:aws:sns:us-east-1:123456789012:t",
        ],
        ["receive", "--port", "1", "--allow-topic", "arn:aws:sns:us-east-1:123456789012:t"],
        ["dashboard", "--port", "1"],
    ],
)
def test_an_in_memory_store_is_refused_by_the_commands(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, url: str, command: list[str]
) -> None:
    monkeypatch.setenv("COURRIER_DATABASE_URL", url)
    result = cli.invoke(main, command)
    assert result.exit_code == 2, result.output
    assert "in-memory SQLite database" in result.output
    assert "lost when the command ends" in " ".join(result.output.split())


def test_the_library_may_still_use_an_in_memory_store() -> None:
    store = Store("sqlite://")
    store.suppress("x@example.com", reason="complaint", source="manual")
    assert [s.address for s in store.suppressions()] == ["x@example.com"]
    store.close()
