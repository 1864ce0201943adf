"""Templated sends and `courrier template` against the sandbox: SES renders, courrier records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier import TemplateMessage
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.cli import main
from courrier.errors import InvalidAddress, InvalidMessage, OutcomeUnknown, TemplateNotFound
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.sending.test_mailer import SENDER, SUCCESS, received

READER = "reader@example.net"


def hello_template(sandbox: SandboxClient) -> None:
    sandbox.sesv2.create_email_template(
        TemplateName="hello",
        TemplateContent={
            "Subject": "Hi {{name}}",
            "Text": "Hello {{name}}, {{#each items}}[{{this}}]{{/each}}",
            "Html": "<p>Hello {{name}}</p>",
        },
    )


def test_template_send_arrives_rendered_and_is_recorded(
    sandbox: SandboxClient, mailer: Mailer, store: Store
) -> None:
    hello_template(sandbox)
    sandbox.ses.verify_email_identity(EmailAddress=READER)
    result = mailer.send(
        TemplateMessage(
            sender=("Zoë", SENDER),
            to=[READER],
            template="hello",
            data={"name": "Jörg", "items": ["a", "b"]},
            tags={"campaign": "spring"},
        )
    )
    assert result.sent
    assert result.ses_message_id
    letter = received(sandbox, READER)
    assert str(letter["Subject"]) == "Hi Jörg"
    assert "Hello Jörg, [a][b]" in letter.get_body(("plain",)).get_content()
    assert "Zoë" in str(letter["From"])
    record = store.message(result.id)
    assert record is not None
    assert (record.status, record.ses_message_id, record.subject) == (
        "sent",
        result.ses_message_id,
        "template hello",
    )
    assert [(r.address, r.status) for r in record.recipients] == [(READER, "sent")]


def test_missing_template_is_typed_and_recorded(mailer: Mailer, store: Store) -> None:
    with pytest.raises(TemplateNotFound, match="nope"):
        mailer.send(TemplateMessage(sender=SENDER, to=[SUCCESS], template="nope"))
    record = store.message(1)
    assert record is not None
    assert record.status == "failed"
    assert record.error is not None
    assert "TemplateNotFound" in record.error


def test_suppressed_recipients_of_a_template_send(
    sandbox: SandboxClient, mailer: Mailer, store: Store
) -> None:
    hello_template(sandbox)
    store.suppress("bounce@simulator.amazonses.com", reason="bounce", source="feedback")
    result = mailer.send(
        TemplateMessage(
            sender=SENDER,
            to=[SUCCESS],
            bcc=["bounce@simulator.amazonses.com"],
            template="hello",
            data={"name": "x"},
        )
    )
    assert [(r.address, r.status) for r in result.recipients] == [
        (SUCCESS, "sent"),
        ("bounce@simulator.amazonses.com", "suppressed"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"template": "no spaces"}, InvalidMessage, "template name"),
        ({"data": {"when": object()}}, InvalidMessage, "JSON"),
        ({"to": []}, InvalidMessage, "no recipients"),
        ({"to": [f"u{i}@example.com" for i in range(51)]}, InvalidMessage, "at most 50"),
        ({"to": ["not an address"]}, InvalidAddress, "address"),
        ({"tags": {"bad tag": "x"}}, InvalidMessage, "tag"),
    ],
)
def test_template_messages_are_checked_when_built(
    kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    given: dict[str, object] = {"sender": SENDER, "to": [SUCCESS], "template": "hello", **kwargs}
    with pytest.raises(error, match=text):
        TemplateMessage(**given)  # type: ignore[arg-type]


@pytest.fixture
def cli(
    sandbox: SandboxClient, ses: SesClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def write_template(root: Path, name: str, subject: str, text: str) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subject.txt").write_text(subject + "\n")
    (folder / "text.txt").write_text(text)


def test_template_push_is_idempotent_and_render_shows_ses_rendering(
    cli: CliRunner, tmp_path: Path
) -> None:
    root = tmp_path / "templates"
    write_template(root, "welcome", "Welcome {{name}}", "Hi {{name}}!")
    write_template(root, "bye", "Bye", "See you")
    first = cli.invoke(main, ["template", "push", str(root)])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["created bye", "created welcome"]
    again = cli.invoke(main, ["template", "push", str(root)])
    assert again.stdout.splitlines() == ["unchanged bye", "unchanged welcome"]
    write_template(root, "welcome", "Welcome, {{name}}", "Hi {{name}}!")
    changed = cli.invoke(main, ["template", "push", str(root / "welcome")])
    assert changed.stdout.splitlines() == ["updated welcome"]
    listed = cli.invoke(main, ["template", "list"])
    assert listed.stdout.splitlines() == ["bye", "welcome"]
    rendered = cli.invoke(
        main, ["template", "render", "welcome", "--data", json.dumps({"name": "Zoë"})]
    )
    assert rendered.exit_code == 0, rendered.output
    assert "Subject: Welcome, =?utf-8?q?Zo=C3=AB?=" in rendered.stdout
    assert "Hi Zoë!" in rendered.stdout
    missing = cli.invoke(main, ["template", "render", "welcome"])
    assert missing.exit_code == 1
    assert "name" in missing.output


@pytest.mark.parametrize(
    ("files", "text"),
    [
        ({"text.txt": "x"}, "no template"),
        ({"subject.txt": "a\nb\n", "text.txt": "x"}, "one line"),
        ({"subject.txt": "s"}, "needs text.txt or html.html"),
    ],
)
def test_template_push_refuses_bad_layouts(
    cli: CliRunner, tmp_path: Path, files: dict[str, str], text: str
) -> None:
    folder = tmp_path / "t1"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_text(content)
    result = cli.invoke(main, ["template", "push", str(folder)])
    assert result.exit_code == 2
    assert text in result.output


def test_lost_answer_to_a_template_send_is_unknown(
    silent_server: tuple[str, list[bytes]], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requests = silent_server
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=0.5)),
        settings=Settings(send_attempts=5),
        pacer=Pacer(1000),
        sleep=lambda _: None,
    )
    with pytest.raises(OutcomeUnknown):
        mailer.send(TemplateMessage(sender=SENDER, to=[SUCCESS], template="hello"))
    assert len(requests) == 1
    record = store.message(1)
    assert record is not None
    assert record.status == "unknown"
    assert [r.status for r in record.recipients] == ["unknown"]
