"""``manage.py courrier ...``: the CLI with the Django project's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from courrier.store import Store

MANAGE = Path(__file__).with_name("manage.py")


def manage(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COURRIER_DJANGO_TEST_DATABASE": str(database),
        # COURRIER["DATABASE"] ranks above the environment: this one must be ignored.
        "COURRIER_DATABASE_URL": f"sqlite:///{database.with_name('ignored.db')}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, str(MANAGE), "courrier", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_manage_py_runs_the_cli_with_the_project_settings(tmp_path: Path) -> None:
    database = tmp_path / "project.sqlite3"
    added = manage(
        "suppression", "add", "Gone@Example.net", "--reason", "bounce", database=database
    )
    assert added.returncode == 0, added.stderr
    assert "suppressed Gone@example.net" in added.stdout
    store = Store(f"sqlite:///{database}")
    try:
        assert [s.address for s in store.suppressions()] == ["gone@example.net"]
    finally:
        store.close()
    assert not database.with_name("ignored.db").exists()
    listed = manage(
        "--settings", "tests.django.settings", "suppression", "list", "--json", database=database
    )
    assert listed.returncode == 0, listed.stderr
    assert "gone@example.net" in listed.stdout
    # the CLI's own options still rank above the Django settings
    other = tmp_path / "other.db"
    moved = manage(
        "--database-url", f"sqlite:///{other}", "suppression", "list", "--json", database=database
    )
    assert moved.returncode == 0, moved.stderr
    assert "gone@example.net" not in moved.stdout


def test_manage_py_keeps_the_cli_help_and_exit_codes(tmp_path: Path) -> None:
    database = tmp_path / "project.sqlite3"
    helped = manage("--help", database=database)
    assert helped.returncode == 0
    assert "worker" in helped.stdout
    assert "courrier" in helped.stdout.splitlines()[0]
    bad = manage(
        "send",
        "--from",
        "sender@example.com",
        "--to",
        "jürgen@example.com",
        "--subject",
        "s",
        "--text",
        "t",
        database=database,
    )
    assert bad.returncode == 2
    assert "SMTPUTF8" in bad.stderr
    unknown = manage("no-such-command", database=database)
    assert unknown.returncode == 2
    assert "No such command" in unknown.stderr


def test_call_command_turns_failures_into_command_errors(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings.COURRIER = {"DATABASE_URL": f"sqlite:///{tmp_path}/store.db"}
    with pytest.raises(CommandError, match="No such command") as usage:
        call_command("courrier", "no-such-command")
    assert usage.value.returncode == 2
    with pytest.raises(CommandError, match="exited with 1") as failed:
        call_command("courrier", "suppression", "remove", "nobody@example.org")
    assert failed.value.returncode == 1
    call_command("courrier", "suppression", "add", "a@example.org")
    settings.COURRIER = {"NO_SUCH": 1}
    with pytest.raises(CommandError, match="unknown key 'NO_SUCH'"):
        call_command("courrier", "suppression", "list")
