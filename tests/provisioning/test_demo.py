"""The demo as a library call: against the sandbox, with its own AWS configuration (the
process's environment untouched), and a second run in the same folder refused clearly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from courrier.aws.clients import AwsConfig
from courrier.cli.demo import command_name
from courrier.demo import CASES, run_demo
from courrier.errors import ConfigurationError
from tests.conftest import SandboxClient

REGION = "us-east-1"


def test_the_demo_runs_where_its_config_points(sandbox: SandboxClient, tmp_path: Path) -> None:
    # No endpoint in the environment: only the config can lead the demo to the sandbox.
    assert "AWS_ENDPOINT_URL" not in os.environ
    config = AwsConfig(
        region=REGION, endpoint_url=sandbox.url, access_key_id="demo", secret_access_key="demo"
    )
    assert "demo" not in repr(config)  # credentials stay out of logs and tracebacks
    progress: list[tuple[int, int]] = []
    report = run_demo(
        config, tmp_path, timeout=30, on_progress=lambda seen, of: progress.append((seen, of))
    )
    assert report.ok, report
    assert [result.case for result in report.cases] == list(CASES)
    assert progress[-1] == (sum(len(case.events) for case in CASES),) * 2
    assert "AWS_ENDPOINT_URL" not in os.environ
    # The earlier run suppressed the bounce and complaint recipients in this store: their
    # messages would not be sent, so the demo says so instead of failing an assertion.
    with pytest.raises(ConfigurationError, match="already suppresses bounce@"):
        run_demo(config, tmp_path, timeout=30)


def test_the_next_step_names_a_command_that_runs_from_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make demo`` starts ``.venv/bin/courrier``, which no PATH names yet: the hint says
    that path; where ``courrier`` is on the PATH, it says ``courrier``."""
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "courrier"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/courrier", "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert command_name() == ".venv/bin/courrier"
    monkeypatch.setenv("PATH", str(venv_bin))
    assert command_name() == "courrier"
    monkeypatch.setattr(sys, "argv", ["/somewhere/__main__.py", "demo"])  # python -m courrier
    assert command_name() == "courrier"
