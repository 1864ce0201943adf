"""Settings precedence: argument > COURRIER_* > courrier.toml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from courrier.errors import ConfigurationError
from courrier.settings import Settings


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(in_tmp: Path) -> None:
    settings = Settings.load()
    assert settings.database_url == "sqlite:///courrier.db"
    assert settings.send_attempts == 6


def test_precedence(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "courrier.toml").write_text(
        '[courrier]\ndatabase_url = "sqlite:///file.db"\nsender = "file@example.com"\n'
        "send_attempts = 2\n"
    )
    assert Settings.load().sender == "file@example.com"
    assert Settings.load().send_attempts == 2
    monkeypatch.setenv("COURRIER_SENDER", "env@example.com")
    monkeypatch.setenv("COURRIER_SEND_ATTEMPTS", "4")
    settings = Settings.load()
    assert (settings.sender, settings.send_attempts, settings.database_url) == (
        "env@example.com",
        4,
        "sqlite:///file.db",
    )
    assert Settings.load(sender="arg@example.com").sender == "arg@example.com"


def test_config_file_from_environment(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = in_tmp / "other.toml"
    other.write_text('[courrier]\nregion = "eu-west-1"\n')
    monkeypatch.setenv("COURRIER_CONFIG", str(other))
    assert Settings.load().region == "eu-west-1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[courrier\n", "not valid TOML"),
        ('[courrier]\nnope = "x"\n', "unknown setting"),
        ('[courrier]\nsend_attempts = "many"\n', "must be a number"),
        ("[courrier]\nsender = 3\n", "must be a string"),
        ('courrier = "x"\n', "must be a table"),
    ],
)
def test_bad_files_name_the_problem(in_tmp: Path, content: str, message: str) -> None:
    (in_tmp / "courrier.toml").write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        Settings.load()


def test_bad_environment_and_arguments(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURRIER_READ_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="COURRIER_READ_TIMEOUT"):
        Settings.load()
    with pytest.raises(ConfigurationError, match="unknown setting"):
        Settings.load(colour="blue")


def test_booleans_and_reputation_settings(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().guard_blocks_transactional is False
    (in_tmp / "courrier.toml").write_text(
        "[courrier]\nreputation_count_simulator = true\nguard_bounce_trip = 0.03\n"
    )
    loaded = Settings.load()
    assert (loaded.reputation_count_simulator, loaded.guard_bounce_trip) == (True, 0.03)
    for text, value in (("yes", True), ("0", False), ("False", False), ("on", True)):
        monkeypatch.setenv("COURRIER_GUARD_BLOCKS_TRANSACTIONAL", text)
        assert Settings.load().guard_blocks_transactional is value
    monkeypatch.setenv("COURRIER_GUARD_BLOCKS_TRANSACTIONAL", "sometimes")
    with pytest.raises(ConfigurationError, match="must be true or false"):
        Settings.load()


def test_a_named_config_file_that_does_not_exist_is_refused(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=r"settings file courrier\.tmol does not exist"):
        Settings.load("courrier.tmol")
    monkeypatch.setenv("COURRIER_CONFIG", "elsewhere.toml")
    with pytest.raises(ConfigurationError, match=r"elsewhere\.toml .* by COURRIER_CONFIG"):
        Settings.load()
    # Only a file that is about to be written (courrier setup) may be absent.
    assert Settings.load(config_may_be_absent=True).database_url == "sqlite:///courrier.db"


def test_the_implicit_default_file_may_be_absent(in_tmp: Path) -> None:
    assert not (in_tmp / "courrier.toml").exists()
    assert Settings.load().database_url == "sqlite:///courrier.db"
