"""courrier.toml: setup writes its keys to [courrier], teardown removes them, the rest stays."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.errors import ConfigurationError
from courrier.provisioning import config_file
from tests.conftest import SandboxClient
from tests.provisioning.conftest import IDENTITY

BEFORE = """\
# Settings for this project; keep the comments.
title = "newsletters"   # a root key
ports = [8080, 8081]

[tool.other]
names = ["a", "b"]  # arrays stay arrays
nested = { x = 1, y = [true, false] }

[courrier]
# The database the team shares.
database_url = "sqlite:///shared.db"
send_attempts = 3

[tool.other.deeper]
values = [
  "multi",  # a comment inside an array
  "line",
]
when = 2024-05-14T09:12:03Z

[[servers]]
name = "alpha"

[[servers]]
name = "beta"
"""
AFTER = BEFORE.split("[tool.other.deeper]")[1]


def outside_courrier(text: str) -> tuple[str, str]:
    head, _, rest = text.partition("[courrier]\n")
    _, _, tail = rest.partition("[tool.other.deeper]")
    return head, tail


def test_setup_and_teardown_keep_the_rest_of_the_file(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "courrier.toml"
    path.write_text(BEFORE, encoding="utf-8")
    runner = CliRunner()
    for _ in range(2):  # a second run rewrites the same values in place
        # With a contact list, setup writes every key it may write.
        made = runner.invoke(
            main, ["setup", "--identity", IDENTITY, "--contact-list", "people", "--topic", "news"]
        )
        assert made.exit_code == 0, made.output
        written = path.read_text(encoding="utf-8")
        assert outside_courrier(written) == outside_courrier(BEFORE)
        assert written.endswith(AFTER)
    table = tomllib.loads(written)["courrier"]
    assert set(table) == {"database_url", "send_attempts", *config_file.SETUP_KEYS}
    assert table["sender"] == IDENTITY
    assert table["send_attempts"] == 3
    assert "# The database the team shares." in written
    assert runner.invoke(main, ["teardown", "--yes"]).exit_code == 0
    assert path.read_text(encoding="utf-8") == BEFORE


def test_teardown_removes_every_key_setup_writes(tmp_path: Path) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text("[courrier]\nmax_send_rate = 5.0\n", encoding="utf-8")
    config_file.remember_setup(path, {key: f"value-{key}" for key in config_file.SETUP_KEYS})
    config_file.forget_setup(path)
    assert path.read_text(encoding="utf-8") == "[courrier]\nmax_send_rate = 5.0\n"


def test_setup_only_writes_its_own_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="database_url"):
        config_file.remember_setup(tmp_path / "courrier.toml", {"database_url": "x"})


def test_a_table_setup_made_goes_with_teardown(tmp_path: Path) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text("[other]\nx = 1\n", encoding="utf-8")
    config_file.remember_setup(path, {"identity": IDENTITY})
    assert tomllib.loads(path.read_text())["courrier"] == {"identity": IDENTITY}
    config_file.forget_setup(path)
    assert path.read_text(encoding="utf-8") == "[other]\nx = 1\n"
    missing = tmp_path / "none.toml"
    config_file.forget_setup(missing)
    assert not missing.exists()


@pytest.mark.parametrize(
    ("text", "error"),
    [("[courrier\n", "not valid TOML"), ("courrier = 3\n", "must be a table")],
)
def test_a_broken_file_is_refused_and_kept(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=error):
        config_file.remember_setup(path, {"identity": IDENTITY})
    assert path.read_text(encoding="utf-8") == text


def test_teardown_of_a_file_setup_wrote_before_it_marked_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text(
        '[courrier]\nmax_send_rate = 5.0\nidentity = "a@example.com"\nsender = "a@example.com"\n',
        encoding="utf-8",
    )
    config_file.forget_setup(path)
    assert path.read_text(encoding="utf-8") == "[courrier]\nmax_send_rate = 5.0\n"


def test_teardown_keeps_the_users_keys_beside_setup_s(tmp_path: Path) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text('[courrier]\nsender = "Team <a@example.com>"  # ours\n', encoding="utf-8")
    said = config_file.remember_setup(
        path, {"identity": "a@example.com", "sender": "a@example.com", "unsubscribe_topic": "t"}
    )
    assert said == ["kept your sender = 'Team <a@example.com>' (setup's would be 'a@example.com')"]
    assert 'unsubscribe_topic = "t" # courrier setup' in path.read_text(encoding="utf-8")
    config_file.forget_setup(path)
    assert (
        path.read_text(encoding="utf-8") == '[courrier]\nsender = "Team <a@example.com>"  # ours\n'
    )


OLD_SETUP = (
    "[courrier]\n"
    'database_url = "postgresql://db/app"\n'
    'identity = "example.com"\n'
    'topic_arn = "arn:aws:sns:eu-west-1:1:courrier-feedback"\n'
    'queue_url = "http://localhost/1/courrier-feedback"\n'
    'configuration_set = "courrier-events"\n'
    "verify_signatures = false\n"
)


def test_a_file_an_earlier_setup_wrote_is_taken_over_without_a_word(tmp_path: Path) -> None:
    """The file an earlier setup wrote against the sandbox, before keys were marked, then
    setup against AWS: no "replaced your" for setup's own keys, signatures checked again,
    and teardown removes everything that named the pipeline."""
    path = tmp_path / "courrier.toml"
    path.write_text(OLD_SETUP, encoding="utf-8")
    said = config_file.remember_setup(
        path,
        {
            "identity": "example.com",
            "topic_arn": "arn:aws:sns:eu-west-1:2:courrier-feedback",
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/2/courrier-feedback",
            "configuration_set": "courrier-events",
            "verify_signatures": None,
        },
    )
    assert said == []
    assert "verify_signatures" not in path.read_text(encoding="utf-8")
    config_file.forget_setup(path)
    assert path.read_text(encoding="utf-8") == '[courrier]\ndatabase_url = "postgresql://db/app"\n'


def test_setup_against_aws_removes_the_users_verify_signatures_false(tmp_path: Path) -> None:
    path = tmp_path / "courrier.toml"
    path.write_text("[courrier]\nverify_signatures = false\n", encoding="utf-8")
    said = config_file.remember_setup(path, {"verify_signatures": None})
    assert said == ["removed your verify_signatures = false: AWS's signatures are checked"]
    assert "verify_signatures" not in path.read_text(encoding="utf-8")
