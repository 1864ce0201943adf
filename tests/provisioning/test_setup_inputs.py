"""``courrier setup`` checks the identity before making anything, leaves a record when a later
step fails, keeps the user's sender; teardown removes only what setup wrote."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.provisioning import Aws
from tests.conftest import SandboxClient
from tests.provisioning.conftest import IDENTITY, Refusing


@pytest.fixture
def cli(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def nothing_made(sandbox: SandboxClient) -> bool:
    return (
        not sandbox.sns.list_topics()["Topics"]
        and not sandbox.sqs.list_queues().get("QueueUrls")
        and not sandbox.ses.list_identities()["Identities"]
    )


@pytest.mark.parametrize(
    "identity",
    [
        "not valid",
        "ex..org",
        "-ex.org",
        "ex_org.com",
        "http://ex.org",
        "x@ex..org",
        f"{'a' * 70}.org",
        "localhost",
        "a b@ex.org",
        "@ex.org",
        "a@",
        "a@b",
        "Team <team@ex.org>",
    ],
)
def test_an_invalid_identity_is_refused_before_anything_is_made(
    cli: CliRunner, sandbox: SandboxClient, tmp_path: Path, identity: str
) -> None:
    result = cli.invoke(main, ["setup", "--identity", identity])
    assert result.exit_code == 2, result.output
    assert f"Error: identity {identity!r}: " in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert nothing_made(sandbox)
    assert not (tmp_path / "courrier.toml").exists()


def test_a_unicode_domain_is_still_accepted_as_punycode(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["setup", "--identity", "news@bücher.example"])
    assert result.exit_code == 0, result.output
    table = tomllib.loads((tmp_path / "courrier.toml").read_text())["courrier"]
    assert table["identity"] == "news@xn--bcher-kva.example"


def test_a_failure_after_resources_were_made_records_them_for_teardown(
    cli: CliRunner,
    sandbox: SandboxClient,
    tmp_path: Path,
    refusing: type[Refusing],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("courrier.cli.pipeline._aws", lambda _: refusing("CreateEmailIdentity"))
    failed = cli.invoke(main, ["setup", "--identity", IDENTITY])
    assert failed.exit_code == 1, failed.output
    output = " ".join(failed.output.split())
    assert "setup stopped: CreateEmailIdentity: AccessDenied" in output
    assert "SNS topic courrier-feedback: create" in output
    assert "queue courrier-feedback: create" in output
    assert "courrier teardown --yes" in output
    table = tomllib.loads((tmp_path / "courrier.toml").read_text())["courrier"]
    assert table["identity"] == IDENTITY
    monkeypatch.setattr("courrier.cli.pipeline._aws", lambda _: Aws())
    removed = cli.invoke(main, ["teardown", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert not sandbox.sns.list_topics()["Topics"]
    assert not sandbox.sqs.list_queues().get("QueueUrls")
    assert (tmp_path / "courrier.toml").read_text() == ""


USERS = """\
# Our project's settings.
[courrier]
# Who our mail comes from.
sender = "Team <sender@example.com>"  # the team's address
verify_signatures = true
send_attempts = 3
"""


def test_setup_keeps_the_users_sender_and_teardown_only_what_setup_wrote(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text(USERS, encoding="utf-8")
    made = cli.invoke(main, ["setup", "--identity", IDENTITY])
    assert made.exit_code == 0, made.output
    assert "kept your sender = 'Team <sender@example.com>'" in made.output
    assert "replaced your verify_signatures = True with False" in made.output
    table = tomllib.loads(path.read_text())["courrier"]
    assert table["sender"] == "Team <sender@example.com>"
    assert table["verify_signatures"] is False
    assert table["identity"] == IDENTITY
    assert cli.invoke(main, ["setup", "--identity", IDENTITY]).exit_code == 0
    removed = cli.invoke(main, ["teardown", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert path.read_text(encoding="utf-8") == USERS.replace("verify_signatures = true\n", "")


def test_doctor_probes_from_a_sender_with_a_display_name(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.invoke(main, ["setup", "--identity", IDENTITY]).exit_code == 0
    monkeypatch.setenv("COURRIER_SENDER", f"Team <{IDENTITY}>")
    checked = cli.invoke(main, ["doctor", "--no-dns", "--timeout", "10"])
    assert checked.exit_code == 0, checked.output
    assert "ok end-to-end probe" in checked.output


def test_doctor_refuses_an_invalid_identity_in_the_settings(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "courrier.toml").write_text(
        '[courrier]\nidentity = "ex..org"\ntopic_arn = "arn:aws:sns:eu-west-1:1:t"\n'
        'queue_url = "http://localhost/1/q"\n'
    )
    result = cli.invoke(main, ["doctor", "--no-dns", "--no-probe"])
    assert result.exit_code == 2, result.output
    assert "Error: identity 'ex..org': 'ex..org' is not a domain name" in result.output
