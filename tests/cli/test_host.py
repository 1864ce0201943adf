"""The CLI run inside another program: its settings rank between options and environment."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.cli.common import Host
from courrier.store import Store


def suppressed_in(url: str) -> list[str]:
    store = Store(url)
    try:
        return [s.address for s in store.suppressions()]
    finally:
        store.close()


def test_host_settings_rank_below_options_and_above_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env, hosted, option = (f"sqlite:///{tmp_path}/{name}.db" for name in ("env", "host", "opt"))
    monkeypatch.setenv("COURRIER_DATABASE_URL", env)
    host = Host(settings={"database_url": hosted})
    runner = CliRunner()
    for args, address in (
        ([], "a@example.org"),
        (["--database-url", option], "b@example.org"),
    ):
        result = runner.invoke(main, [*args, "suppression", "add", address], obj=host)
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["suppression", "add", "c@example.org"])
    assert result.exit_code == 0, result.output
    assert suppressed_in(hosted) == ["a@example.org"]
    assert suppressed_in(option) == ["b@example.org"]
    assert suppressed_in(env) == ["c@example.org"]


def test_host_settings_are_checked_like_arguments(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["suppression", "list"], obj=Host(settings={"no_such_setting": 1})
    )
    assert result.exit_code == 2
    assert "unknown setting(s): no_such_setting" in result.output


def test_commands_close_their_store_for_the_host_that_goes_on(database_url: str) -> None:
    host = Host(settings={"database_url": database_url})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for args in (["suppression", "add", "a@example.org"], ["suppression", "list"]):
            result = CliRunner().invoke(main, args, obj=host)
            assert result.exit_code == 0, result.output
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
