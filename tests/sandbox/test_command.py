"""``courrier-sandbox``, the sandbox's own command, and ``courrier sandbox``, which runs it."""

from __future__ import annotations

import inspect
import os
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from courrier.cli import main as courrier_main
from courrier_sandbox import __version__, wait_until_healthy
from courrier_sandbox.cli import main as sandbox_main
from courrier_sandbox.smtp import smtp_password
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


def test_the_console_script_serves_smtp_with_the_logins_it_prints() -> None:
    """The key of the sandbox's environment logs in with the password it prints, in the
    region of that environment; SIGTERM stops the SMTP port with the rest."""
    port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAPRINTED",
        "AWS_SECRET_ACCESS_KEY": "printed-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    argv = [str(COMMAND), "--port", str(port), "--smtp-port", str(smtp_port)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    printed: list[str] = []
    try:
        # The logins are printed once the SMTP port listens.
        while not any("AKIAPRINTED" in line for line in printed):
            line = proc.stderr.readline()
            assert line, "".join(printed)
            printed.append(line)
        password = smtp_password("printed-secret", "eu-west-1")
        assert f"SMTP login in eu-west-1: AKIAPRINTED / {password}" in printed[-1]
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.starttls()
            assert client.login("AKIAPRINTED", password)[0] == 235
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"SMTP (STARTTLS): 127.0.0.1:{smtp_port}" in "".join(printed)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", smtp_port), timeout=5).close()


def test_a_certificate_without_an_smtp_port_is_a_usage_error(tmp_path: Path) -> None:
    certificate = tmp_path / "certificate.pem"
    certificate.write_text("not a certificate")
    result = CliRunner().invoke(
        sandbox_main, ["--tls-cert", str(certificate), "--tls-key", str(certificate)]
    )
    assert result.exit_code == 2
    assert "--tls-cert and --tls-key need --smtp-port or --smtps-port" in result.output


def test_an_unusable_certificate_is_a_clear_error(tmp_path: Path) -> None:
    certificate = tmp_path / "certificate.pem"
    certificate.write_text("not a certificate")
    argv = ["--port", "0", "--smtp-port", "0", "--tls-cert", str(certificate)]
    result = subprocess.run(
        [sys.executable, "-m", "courrier_sandbox", *argv, "--tls-key", str(certificate)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert f"Error: cannot use the TLS certificate {certificate}" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_takes_the_smtp_options_as_optional() -> None:
    """``courrier sandbox`` of a courrier older than the SMTP options calls serve() without
    them; courrier-sandbox must still serve."""
    from courrier_sandbox.cli import serve

    parameters = inspect.signature(serve).parameters
    for name in ("smtp_port", "smtps_port", "tls_cert", "tls_key"):
        assert parameters[name].default is None, name
