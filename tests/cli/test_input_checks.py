"""Bad command-line input is a clear error with exit 2 (or a typed AWS error), never a
traceback: ports out of range, files that are not UTF-8, templates that do not exist."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier_sandbox.cli import main as sandbox_main
from tests.conftest import SandboxClient


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (main, ["sandbox", "--port"]),
        (main, ["sandbox", "--smtp-port"]),
        (main, ["receive", "--port"]),
        (main, ["dashboard", "--port"]),
        (main, ["worker", "--metrics-port"]),
        (sandbox_main, ["--port"]),
        (sandbox_main, ["--smtps-port"]),
    ],
)
@pytest.mark.parametrize("port", ["70000", "99999", "-1"])
def test_a_port_out_of_range_is_a_usage_error(
    command: click.Command, args: list[str], port: str
) -> None:
    result = CliRunner().invoke(command, [*args, port])
    assert result.exit_code == 2, result.output
    assert "is not in the range 0<=x<=65535" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def cli(sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.setenv("COURRIER_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_an_html_file_that_is_not_utf8_is_a_usage_error(cli: CliRunner, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes("<p>café</p>".encode("latin-1"))
    message = ["--from", "a@example.com", "--to", "b@example.org", "--subject", "s"]
    result = cli.invoke(main, ["send", *message, "--html", str(page)])
    assert result.exit_code == 2, result.output
    assert f"--html {page}: byte 0xe9 at offset 6 is not UTF-8" in result.output
    assert "the file must be UTF-8" in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_rendering_a_missing_template_says_how_to_create_it(cli: CliRunner) -> None:
    result = cli.invoke(main, ["template", "render", "nope"])
    assert result.exit_code == 1, result.output
    assert "TemplateNotFound: TestRenderEmailTemplate: NotFoundException" in result.output
    assert "create the template (courrier template push)" in result.output
