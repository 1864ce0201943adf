"""Every example of README.md and docs/ runs, so none can rot.

Each page is one test. Its ```python blocks run in order in one namespace, and its ```sh
blocks line by line (``courrier`` through Click in-process, ``export`` into the
environment, anything else through the shell), all in a temporary working directory with
its own SQLite store, against the in-process sandbox (``AWS_ENDPOINT_URL``; production
mode, so any recipient works, with ``example.com`` verified as a sender). A block marked
``<!-- example: parse-only -->`` on the line before it (real AWS, a long-running service,
a Django project) is only checked: Python compiles, and each ``courrier`` command line
names commands and options that exist. ```toml blocks must parse. Code a page's examples
need but do not show is in an ``<!-- example-setup: ... -->`` comment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier_sandbox.cli import main as sandbox_main
from tests.conftest import REGION, SandboxClient

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PARSE_ONLY = "<!-- example: parse-only -->"
FENCE = re.compile(r"^```(\w*)\s*$")
SETUP = re.compile(r"<!-- example-setup:\n(.*?)-->", re.S)
#: The address the docs give for `courrier sandbox`; the tests' sandbox listens elsewhere.
DOCS_SANDBOX = "http://127.0.0.1:4566"


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    parse_only: bool


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a page, outside HTML comments."""
    text = SETUP.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index].strip())
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        before = [line.strip() for line in lines[:start] if line.strip()]
        marked = bool(before) and before[-1] == PARSE_ONLY
        found.append(Block(opening.group(1), "\n".join(body) + "\n", start + 1, marked))
        index += 1
    return found


def commands(code: str) -> list[str]:
    """Shell lines, continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(line.strip())
    return out


def check_courrier_line(words: list[str]) -> None:
    """Commands and options named exist: ``--help`` makes Click parse them and stop."""
    result = CliRunner().invoke(main, [*words[1:], "--help"])
    assert result.exit_code == 0, f"{shlex.join(words)}: {result.output}"


def check_parse_only(block: Block, where: str) -> None:
    if block.language == "python":
        compile(block.code, where, "exec")
    elif block.language in ("sh", "console"):
        for line in commands(block.code):
            words = shlex.split(line.removeprefix("$ "), comments=True)
            if words[0] == "courrier":
                check_courrier_line(words)
            elif words[0] == "courrier-sandbox":
                result = CliRunner().invoke(sandbox_main, [*words[1:], "--help"])
                assert result.exit_code == 0, f"{shlex.join(words)}: {result.output}"


def run_shell(block: Block, where: str, sandbox: SandboxClient, mp: pytest.MonkeyPatch) -> None:
    for shown in commands(block.code):
        line = shown.removeprefix("$ ").replace(DOCS_SANDBOX, sandbox.url)
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                mp.setenv(name, value)
        elif words[0] == "courrier":
            result = CliRunner().invoke(main, words[1:])
            assert result.exit_code == 0, (
                f"{where}: {line} exited {result.exit_code}\n{result.output}{result.exception!r}"
            )
        else:
            done = subprocess.run(
                line, shell=True, capture_output=True, text=True, timeout=60, check=False
            )
            assert done.returncode == 0, f"{where}: {line}\n{done.stdout}{done.stderr}"


@pytest.fixture
def docs_env(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SandboxClient:
    # The pages use the test region and the docs' own (eu-west-1): out of the SES sandbox
    # and with example.com verified in both.
    for region in sorted({REGION, "eu-west-1"}):
        sandbox.control("POST", f"/account?region={region}", {"production": True})
        sesv2 = (
            sandbox.client("sesv2")
            if region == REGION
            else boto3.client("sesv2", endpoint_url=sandbox.url, region_name=region)
        )
        sesv2.create_email_identity(EmailIdentity="example.com")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    return sandbox


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_examples_run(page: Path, docs_env: SandboxClient, monkeypatch: pytest.MonkeyPatch) -> None:
    text = page.read_text(encoding="utf-8")
    if "export AWS_ENDPOINT_URL" in text:
        # A page that says how to reach the sandbox must say everything boto3 needs: no
        # credentials or region from the test session or the machine.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
            monkeypatch.delenv(name, raising=False)
        for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.setenv(name, str(Path.cwd() / "no-such-aws-file"))
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for setup in SETUP.findall(text):
        exec(compile(setup, f"{page.name} (example-setup)", "exec"), namespace)
    for block in blocks(text):
        where = f"{page.relative_to(ROOT)}:{block.line}"
        if block.language == "toml":
            tomllib.loads(block.code)
        elif block.parse_only:
            check_parse_only(block, where)
        elif block.language == "python":
            exec(compile(block.code, where, "exec"), namespace)
        elif block.language in ("sh", "console"):
            run_shell(block, where, docs_env, monkeypatch)


def test_blocks_are_found() -> None:
    """The collector sees fences, markers and setup comments as the pages mean them."""
    text = (
        "<!-- example-setup:\nx = 1\n-->\n\n```python\ny = 2\n```\n\n"
        f"{PARSE_ONLY}\n```sh\ncourrier worker\n```\n"
    )
    found = blocks(text)
    assert [(b.language, b.code, b.parse_only) for b in found] == [
        ("python", "y = 2\n", False),
        ("sh", "courrier worker\n", True),
    ]
    assert commands("courrier send --to a \\\n   --subject b  # c\n\n# only\n") == [
        "courrier send --to a --subject b  # c"
    ]


def test_parse_only_refuses_unknown_commands_and_options() -> None:
    with pytest.raises(AssertionError, match="No such command"):
        check_courrier_line(["courrier", "wroker"])
    with pytest.raises(AssertionError, match="No such option"):
        check_courrier_line(["courrier", "worker", "--until-idel"])
