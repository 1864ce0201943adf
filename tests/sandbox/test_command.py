"""``courrier-sandbox``, the sandbox's own command, and ``courrier sandbox``, which runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from courrier.cli import main as courrier_main
from courrier_sandbox import __version__, wait_until_healthy
from courrier_sandbox.cli import main as sandbox_main
from tests.conftest import free_port

COMMAND = Path(sys.executable).with_name("courrier-sandbox")


def described(command: click.Command) -> list[tuple[Any, ...]]:
    return [
        (
            p.name,
            p.opts,
            p.secondary_opts,
            p.default,
            getattr(p, "help", None),
            p.type.to_info_dict(),
        )
        for p in command.params
        if p.name not in ("version", "help")
    ]


def test_both_commands_take_the_same_options() -> None:
    ctx = click.Context(courrier_main)
    courrier_sandbox_command = courrier_main.get_command(ctx, "sandbox")
    assert courrier_sandbox_command is not None
    assert described(courrier_sandbox_command) == described(sandbox_main)


def test_the_command_answers_help_and_version() -> None:
    runner = CliRunner()
    result = runner.invoke(sandbox_main, ["--help"])
    assert result.exit_code == 0
    assert "--pending-identities" in result.output
    version = runner.invoke(sandbox_main, ["--version"])
    assert version.output.strip() == f"courrier-sandbox, version {__version__}"


def test_the_console_script_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state.json"
    argv = [str(COMMAND), "--port", str(port), "--state", str(state), "--max-send-rate", "5"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"listening on http://127.0.0.1:{port}" in err
    assert err.rstrip().endswith("stopping")


def test_a_bad_option_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "courrier_sandbox", "--port", "0", "--latency", "fast"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr
