"""settings.COURRIER -> courrier.Settings: precedence, Django-only keys, database aliases."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.checks import run_checks
from django.core.mail import get_connection, send_mail
from pytest_django import Settings

from courrier.django.settings import DjangoOptions, load, options, url_of
from courrier.errors import ConfigurationError
from courrier.store import Store
from tests.conftest import SandboxClient, postgres_schema


def test_courrier_ranks_like_an_argument(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "courrier.toml").write_text(
        '[courrier]\nsender = "file@example.com"\nregion = "eu-west-1"\nprefix = "file"\n'
    )
    monkeypatch.setenv("COURRIER_SENDER", "env@example.com")
    monkeypatch.setenv("COURRIER_PREFIX", "env")
    settings.COURRIER = {"SENDER": "django@example.com", "send_attempts": "3"}
    loaded = load()
    assert (loaded.sender, loaded.prefix, loaded.region) == (
        "django@example.com",
        "env",
        "eu-west-1",
    )
    assert loaded.send_attempts == 3
    assert load(sender="kwarg@example.com").sender == "kwarg@example.com"


@pytest.mark.parametrize(
    ("courrier", "reason"),
    [
        ({"NO_SUCH": 1}, "unknown key 'NO_SUCH'"),
        ({"SENDER": "a@example.com", "sender": "b@example.com"}, "SENDER is given twice"),
        ({"MAX_SEND_RATE": "fast"}, "max_send_rate must be a number"),
        ({"REGION": 1}, "region must be a string"),
        ({"DATABASE": "nope"}, "DATABASE 'nope' is not in DATABASES"),
        ({"DATABASE": "default", "DATABASE_URL": "sqlite:///x.db"}, "not both"),
        ({"SNS_TOPICS": "arn:aws:sns:eu-west-1:1:t"}, "SNS_TOPICS must be a list"),
        ({"SNS_VERIFY_SIGNATURES": "no"}, "SNS_VERIFY_SIGNATURES must be True or False"),
    ],
)
def test_mistakes_are_configuration_errors_and_system_checks(
    settings: Settings, courrier: dict[str, object], reason: str
) -> None:
    settings.COURRIER = courrier

    def loaded() -> object:
        return options(), load()

    with pytest.raises(ConfigurationError, match=reason):
        loaded()
    [error] = [m for m in run_checks() if m.id == "courrier.E001"]
    assert reason.split("'", maxsplit=1)[0] in error.msg


def test_no_mistake_no_check_message(settings: Settings) -> None:
    settings.COURRIER = {
        "DATABASE": "default",
        "SNS_TOPICS": ["arn:aws:sns:eu-west-1:1:t"],
        # The test project routes the unsubscribe view (courrier.W002 without them).
        "UNSUBSCRIBE_URL": "https://testserver/unsubscribe",
        "UNSUBSCRIBE_SECRET": "django-tests-secret-key",
    }
    assert [m for m in run_checks() if str(m.id).startswith("courrier")] == []
    assert options() == DjangoOptions("default", ("arn:aws:sns:eu-west-1:1:t",), True)
    settings.COURRIER = "sqlite:///x.db"
    assert "must be a dict" in next(m.msg for m in run_checks() if m.id == "courrier.E001")


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        (
            {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "USER": "u", "HOST": "db"},
            "postgresql://u@db/app",
        ),
        (
            {
                "ENGINE": "django.contrib.gis.db.backends.postgis",
                "NAME": "app",
                "USER": "me",
                "PASSWORD": "p@ss/word",
                "HOST": "::1",
                "PORT": 5433,
                "OPTIONS": {"sslmode": "require", "pool": True},
            },
            "postgresql://me:p%40ss%2Fword@[::1]:5433/app?sslmode=require",
        ),
        (
            {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "HOST": "/run/pg"},
            "postgresql:///app?host=%2Frun%2Fpg",
        ),
        ({"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/app.db"}, "sqlite:////srv/app.db"),
    ],
)
def test_database_entries_as_store_urls(entry: dict[str, object], url: str) -> None:
    assert url_of(entry) == url


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, "in-memory"),
        ({"ENGINE": "django.db.backends.sqlite3", "NAME": "file:x?mode=memory"}, "in-memory"),
        ({"ENGINE": "django.db.backends.mysql", "NAME": "app"}, "SQLite or PostgreSQL"),
    ],
)
def test_database_entries_courrier_cannot_use(entry: dict[str, object], reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        url_of(entry)


@pytest.mark.postgres
def test_a_postgresql_entry_opens_the_store() -> None:
    with postgres_schema() as url:
        parts = urlsplit(url)
        entry = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "",
            "PORT": parts.port or "",
            # libpq's options reach the store: here, the fresh schema to use
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
        store = Store(url_of(entry))
        try:
            store.suppress("a@example.org", reason="manual", source="manual")
            assert [s.address for s in store.suppressions()] == ["a@example.org"]
        finally:
            store.close()


def test_django_s_smtp_parameters_are_ignored_not_refused(
    project: SandboxClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Django hands every backend send_mail's auth_user and auth_password (as username and
    # password); its own non-SMTP backends ignore them, and so does courrier's.
    sent = send_mail(
        "Hello",
        "Body",
        "sender@example.com",
        ["success@simulator.amazonses.com"],
        auth_user="smtp-user",
        auth_password="smtp-secret",
    )
    assert sent == 1
    assert "ignoring password, username" in caplog.text
    assert "smtp-secret" not in caplog.text
    with get_connection(host="smtp.example.com", port=587, use_tls=True, timeout=5) as connection:
        assert connection.send_messages([]) == 0
    with pytest.raises(ConfigurationError, match="unknown setting"):
        get_connection(configuraton_set="typo").open()
