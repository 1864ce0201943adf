"""courrier as users install it: the wheel alone in a fresh virtual environment, then each extra;
and courrier-sandbox alone, as people outside courrier install it.

The development environment holds every extra and every test tool, so it hides an import
that the package does not declare. These tests build the wheel and the sdist, install them
into empty environments (versions held to the lock with ``-c``, which constrains versions
but installs nothing by itself) and run what a user runs.
"""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
import tarfile
import textwrap
import urllib.error
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.parser import Parser
from pathlib import Path

import pytest

from courrier.cli import COMMANDS
from tests.conftest import postgres_schema
from tests.fakes import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.txt"
#: The other distributions of this repository: courrier[sandbox] and courrier depend on them.
SANDBOX = ROOT / "sandbox"
POLICY = ROOT / "policy"
#: Packages (or modules) of courrier that belong to an extra, and that extra.
EXTRA_MODULES = {
    "courrier.web": "dashboard",
    "courrier.metrics": "metrics",
    "courrier.django": "django",
}
EXTRAS = ("postgres", "sandbox", "dashboard", "metrics", "django")
#: Commands that need an extra, run as a user would without it.
NEEDS_EXTRA = {
    "sandbox": (["demo"], ["sandbox"]),
    "dashboard": (["dashboard"],),
    "metrics": (
        [
            "worker",
            *("--queue-url", "http://127.0.0.1:9/1/q"),
            *("--allow-topic", "arn:aws:sns:us-east-1:123456789012:feedback"),
            *("--metrics-port", "9999"),
        ],
    ),
}
#: What a worker needs to get as far as its metrics without AWS: a region and credentials.
OFFLINE_AWS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "install-test",
    "AWS_SECRET_ACCESS_KEY": "install-test",
}


# ----------------------------------------------------------------------------- building


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels and sdists of the three distributions, built from this checkout by the
    locked build backend: the folder pip finds courrier-sandbox and courrier-policy in
    (``--find-links``), since PyPI has neither."""
    out = tmp_path_factory.mktemp("dist")
    for project in (ROOT, SANDBOX, POLICY):
        run([sys.executable, "-m", "hatchling", "build", "-d", str(out)], cwd=project)
    return out


def wheel_of(dist: Path, name: str = "courrier") -> Path:
    (wheel,) = dist.glob(f"{name}-*.whl")
    return wheel


def sdist_of(dist: Path) -> Path:
    (sdist,) = dist.glob("courrier-*.tar.gz")
    return sdist


def test_wheel_holds_the_package_data_and_no_tests(dist: Path) -> None:
    names = zipfile.ZipFile(wheel_of(dist)).namelist()
    assert "courrier/py.typed" in names
    assert any(n.startswith("courrier/web/templates/") and n.endswith(".html") for n in names)
    assert "courrier/web/static/courrier.css" in names
    assert "courrier/store/migrations/env.py" in names
    assert any(n.startswith("courrier/store/migrations/versions/0001_") for n in names)
    assert "courrier/django/migrations/0001_initial.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/", "requirements/"))]
    assert not [n for n in names if n.startswith(("courrier_sandbox/", "courrier/sandbox/"))]


def test_the_sandbox_wheel_holds_its_package_and_its_command(dist: Path) -> None:
    archive = zipfile.ZipFile(wheel_of(dist, "courrier_sandbox"))
    names = archive.namelist()
    assert "courrier_sandbox/py.typed" in names
    for part in (
        "ses/wire/query.py",
        "ses/api/account.py",
        "sns_sqs/hooks.py",
        "control/routes.py",
    ):
        assert f"courrier_sandbox/{part}" in names
    assert not [n for n in names if n.startswith(("courrier/", "tests/"))]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    declared = archive.read(entry_points).decode()
    assert "courrier-sandbox = courrier_sandbox.cli:main" in declared
    assert "[pytest11]\ncourrier_sandbox = courrier_sandbox.pytest_plugin" in declared


@pytest.mark.parametrize("name", ["courrier_sandbox", "courrier_policy"])
def test_the_other_wheels_declare_what_they_import(dist: Path, name: str) -> None:
    archive = zipfile.ZipFile(wheel_of(dist, name))
    (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(archive.read(meta).decode())
    declared = {requirement_name(r) for r in metadata.get_all("Requires-Dist") or []}
    project = SANDBOX if name == "courrier_sandbox" else POLICY
    imported = {
        DISTRIBUTION.get(top, top).lower().replace("_", "-")
        for path in (project / "src" / name).rglob("*.py")
        # pytest loads the plugin, so pytest is there whenever it is imported.
        if path.name != "pytest_plugin.py"
        for top, _ in imports_in(ast.parse(path.read_text(encoding="utf-8")), None)
        if top != name
    }
    assert imported <= declared, f"{name} imports undeclared {sorted(imported - declared)}"
    assert "courrier" not in declared, f"{name} must not depend on courrier"


def test_wheel_metadata_declares_what_the_package_imports(dist: Path) -> None:
    archive = zipfile.ZipFile(wheel_of(dist))
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(archive.read(name).decode())
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert str(metadata.get_payload()).strip() == (ROOT / "README.md").read_text().strip()
    requires = metadata.get_all("Requires-Dist") or []
    assert set(EXTRAS) <= set(metadata.get_all("Provides-Extra") or [])
    declared = {extra: requirements_of(requires, extra) for extra in (None, *EXTRAS)}
    for extra in (None, *EXTRAS):
        allowed = declared[None] | declared[extra] if extra else declared[None]
        imported = third_party_imports(extra)
        undeclared = {m for m in imported if DISTRIBUTION.get(m, m) not in allowed}
        assert not undeclared, f"{extra or 'base'} imports undeclared {sorted(undeclared)}"


def requirements_of(requires: list[str], extra: str | None) -> set[str]:
    """The distributions an install with ``extra`` (None: the plain wheel) brings directly,
    following an extra that names another extra of courrier's."""
    names: set[str] = set()
    for requirement in requires:
        marker = re.search(r"extra == ['\"]([\w-]+)['\"]", requirement)
        if (marker.group(1) if marker else None) != extra:
            continue
        name = requirement_name(requirement)
        inner = re.match(r"courrier\[([\w,-]+)\]", requirement)
        if inner:
            for other in inner.group(1).split(","):
                names |= requirements_of(requires, other)
        else:
            names.add(name)
    return names


#: Import names whose distribution is called something else.
DISTRIBUTION = {
    "dns": "dnspython",
    "pybars": "pybars3",
}


def requirement_name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert found is not None
    return found.group(0).lower().replace("_", "-")


def third_party_imports(extra: str | None) -> set[str]:
    """The top-level third-party modules imported for ``extra`` (None: the plain install).

    A module of an extra's package imports for that extra; elsewhere, an import inside
    ``with needs_extra("X", ...)`` imports for X, and any other import for the plain install.
    """
    found: set[str] = set()
    package = ROOT / "src" / "courrier"
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for top, needed_for in imports_in(tree, extra_of(module)):
            if needed_for == extra:
                found.add(top.lower().replace("_", "-"))
    return found


def imports_in(node: ast.AST, extra: str | None) -> Iterator[tuple[str, str | None]]:
    if isinstance(node, ast.With):
        for item in node.items:
            call = item.context_expr
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id == "needs_extra"
                and isinstance(call.args[0], ast.Constant)
            ):
                extra = str(call.args[0].value)
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module]
    for name in names:
        top = name.partition(".")[0]
        if top not in sys.stdlib_module_names and top not in ("courrier", "__future__"):
            yield top, extra
    for child in ast.iter_child_nodes(node):
        yield from imports_in(child, extra)


def extra_of(module: str) -> str | None:
    for prefix, extra in EXTRA_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return extra
    return None


def test_sdist_builds_the_same_wheel_offline(dist: Path, tmp_path: Path) -> None:
    sdist = sdist_of(dist)
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    top = members[0].split("/")[0]
    for required in ("README.md", "LICENSE", "pyproject.toml", "src/courrier/__init__.py"):
        assert f"{top}/{required}" in members
    assert not [m for m in members if "/.venv" in m or m.endswith((".pyc", ".db"))]
    assert not [m for m in members if m.startswith((f"{top}/sandbox/", f"{top}/policy/"))], (
        "the other distributions have sdists of their own"
    )
    pip_wheel = ["pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    run([sys.executable, "-m", *pip_wheel, "--wheel-dir", str(tmp_path), str(sdist)])
    rebuilt = sorted(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    assert rebuilt == sorted(zipfile.ZipFile(wheel_of(dist)).namelist())


# ----------------------------------------------------------------------------- environments


@pytest.fixture(scope="module")
def environments(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One fresh environment with the wheel alone, one for each extra alone, and one with
    courrier-sandbox alone (``sandbox-alone``)."""
    root = tmp_path_factory.mktemp("venvs")
    constraints = root / "constraints.txt"
    constraints.write_text(locked_versions())
    wheel = wheel_of(dist)
    targets = {
        "base": str(wheel),
        **{extra: f"{wheel}[{extra}]" for extra in EXTRAS},
        "sandbox-alone": str(wheel_of(dist, "courrier_sandbox")),
    }

    def make(name: str) -> tuple[str, Path]:
        home = root / name
        venv.EnvBuilder(with_pip=True).create(home)
        install = ["-m", "pip", "install", "--quiet", "-c", str(constraints)]
        install += ["--find-links", str(dist), targets[name]]
        run([python(home), *install])
        return name, home

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(make, targets))


def locked_versions() -> str:
    """``name==version`` for each package of the lock, without hashes (pip's constraint form)."""
    pins = re.findall(r"^([A-Za-z0-9._-]+==[^\s\\;]+)", LOCK.read_text(), flags=re.MULTILINE)
    assert pins, f"no pins in {LOCK}"
    return "\n".join(pins) + "\n"


def installed(home: Path) -> set[str]:
    out = run([str(home / "bin" / "python"), "-m", "pip", "list", "--format=freeze"]).stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in out.split()}


def test_the_plain_wheel_installs_no_extra(environments: dict[str, Path]) -> None:
    present = installed(environments["base"])
    absent_ones = ("moto", "werkzeug", "pybars3", "starlette", "uvicorn", "prometheus-client")
    for absent in (*absent_ones, "django", "courrier-sandbox"):
        assert absent not in present, f"a plain install brings {absent}"
    assert "psycopg" not in present
    assert "courrier-policy" in present


def test_every_module_outside_the_extras_imports(environments: dict[str, Path]) -> None:
    package = ROOT / "src" / "courrier"
    modules = sorted(
        ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in package.rglob("*.py")
        if "migrations" not in path.parts
    )
    plain = [m for m in modules if extra_of(m) is None and m != "courrier.__main__"]
    script = textwrap.dedent(
        f"""
        import importlib, os, sys
        os.chdir({str(environments["base"])!r})  # away from the checkout's src/
        failed = []
        for name in {plain!r}:
            try:
                importlib.import_module(name)
            except Exception as err:
                failed.append(f"{{name}}: {{type(err).__name__}}: {{err}}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
        """
    )
    result = run([python(environments["base"]), "-c", script], check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    where = run([python(environments["base"]), "-c", "import courrier; print(courrier.__file__)"])
    assert str(environments["base"]) in where.stdout, "the test must import the installed wheel"


def test_every_command_has_help_without_any_extra(environments: dict[str, Path]) -> None:
    home = environments["base"]
    for words in [[], *command_paths(home)]:
        result = run([courrier(home), *words, "--help"], check=False)
        assert result.returncode == 0, f"courrier {' '.join(words)} --help: {result.stderr}"
        assert "Usage: courrier" in result.stdout
        assert "Traceback" not in result.stderr


def command_paths(home: Path) -> list[list[str]]:
    """Every command and subcommand, as the installed package lists them."""
    script = textwrap.dedent(
        """
        import click
        from courrier.cli import main

        def walk(group, prefix):
            ctx = click.Context(group)
            for name in group.list_commands(ctx):
                command = group.get_command(ctx, name)
                print(" ".join([*prefix, name]))
                if isinstance(command, click.Group):
                    walk(command, [*prefix, name])

        walk(main, [])
        """
    )
    out = run([python(home), "-c", script]).stdout
    paths = [line.split() for line in out.splitlines() if line.strip()]
    assert {p[0] for p in paths} == set(COMMANDS)
    return paths


@pytest.mark.parametrize(
    ("extra", "words"),
    [(extra, words) for extra, commands in NEEDS_EXTRA.items() for words in commands],
    ids=lambda value: "-".join(value) if isinstance(value, list) else value,
)
def test_commands_that_need_an_extra_name_it(
    environments: dict[str, Path], extra: str, words: list[str], tmp_path: Path
) -> None:
    home = environments["base"]
    store = f"sqlite:///{tmp_path / 'courrier.db'}"
    result = run(
        [courrier(home), "--database-url", store, *words],
        check=False,
        env={**OFFLINE_AWS},
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"pip install 'courrier[{extra}]'" in lines[0]
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- each extra


def test_postgres_extra_opens_a_store(environments: dict[str, Path]) -> None:
    home = environments["postgres"]
    assert "psycopg" in installed(home)
    with postgres_schema() as url:
        result = run(
            [courrier(home), "--database-url", url, "stats", "--json", "--no-account"],
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert '"messages"' in result.stdout or "{" in result.stdout


def test_sandbox_extra_runs_the_demo(environments: dict[str, Path], tmp_path: Path) -> None:
    home = environments["sandbox"]
    result = run([courrier(home), "demo", "--workdir", str(tmp_path)], check=False, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "as documented" in result.stdout


def test_sandbox_extra_serves_courrier_sandbox(environments: dict[str, Path]) -> None:
    home = environments["sandbox"]
    assert {"courrier-sandbox", "courrier-policy", "moto"} <= installed(home)
    port = free_port()
    with running([courrier(home), "sandbox", "--port", str(port)]) as process:
        body = wait_for(f"http://127.0.0.1:{port}/_courrier/health", process)
    assert '"status": "ok"' in body


# ----------------------------------------------------------------------------- the sandbox alone


def test_the_sandbox_alone_brings_nothing_of_courrier(environments: dict[str, Path]) -> None:
    present = installed(environments["sandbox-alone"])
    assert {"courrier-sandbox", "courrier-policy", "moto", "boto3"} <= present
    for absent in ("courrier", "sqlalchemy", "alembic", "rich", "email-validator"):
        assert absent not in present, f"courrier-sandbox brings {absent}"


def test_the_sandbox_alone_answers_its_command(environments: dict[str, Path]) -> None:
    command = str(environments["sandbox-alone"] / "bin" / "courrier-sandbox")
    result = run([command, "--help"])
    assert "Usage: courrier-sandbox" in result.stdout
    assert "--max-send-rate" in result.stdout
    assert "courrier-sandbox, version 0.2.0" in run([command, "--version"]).stdout


SEND_TO_THE_SIMULATOR = """
import json, sys, urllib.request
import boto3

kw = dict(endpoint_url=URL, region_name="us-east-1",
          aws_access_key_id="alone", aws_secret_access_key="alone")
ses, sns, sqs = (boto3.client(name, **kw) for name in ("sesv2", "sns", "sqs"))
topic = sns.create_topic(Name="feedback")["TopicArn"]
queue = sqs.create_queue(QueueName="feedback")["QueueUrl"]
attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
arn = attributes["Attributes"]["QueueArn"]
policy = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                         "Action": "sqs:SendMessage", "Resource": arn}]}
sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
              Attributes={"RawMessageDelivery": "true"})
v1 = boto3.client("ses", **kw)
for identity in ("sender@example.com", "rcpt@example.com"):
    ses.create_email_identity(EmailIdentity=identity)
v1.set_identity_notification_topic(
    Identity="sender@example.com", NotificationType="Bounce", SnsTopic=topic)
to = ["rcpt@example.com", "bounce@simulator.amazonses.com"]
ses.send_email(
    FromEmailAddress="sender@example.com",
    Destination={"ToAddresses": to},
    Content={"Simple": {"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "x"}}}},
)
urllib.request.urlopen(urllib.request.Request(URL + "/_courrier/drain", method="POST"))
mailbox = json.load(urllib.request.urlopen(URL + "/_courrier/mailbox?kind=delivery"))
print(json.dumps([m["recipient"] for m in mailbox["messages"]]))
found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
kinds = [json.loads(m["Body"])["notificationType"] for m in found]
print(json.dumps([kind for kind in kinds if kind != "AmazonSnsSubscriptionSucceeded"]))
print(sorted(m for m in sys.modules if m == "courrier" or m.startswith("courrier.")))
"""


SMTP_TO_THE_SIMULATOR = """
import json, smtplib, sys, urllib.request
from email.message import EmailMessage
import boto3
from courrier_sandbox.smtp import smtp_password

message = EmailMessage()
message["From"] = "sender@example.com"
message["To"] = "rcpt@example.com"
message["Subject"] = "by SMTP"
message.set_content("x")
with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=30) as smtp:
    smtp.starttls()
    smtp.login("testing", smtp_password("testing", "us-east-1"))
    smtp.mail("sender@example.com")
    for rcpt in ("rcpt@example.com", "bounce@simulator.amazonses.com"):
        smtp.rcpt(rcpt)
    code, answer = smtp.data(message.as_string())
message_id = answer.decode().split()[1]
urllib.request.urlopen(urllib.request.Request(URL + "/_courrier/drain", method="POST"))
mailbox = json.load(urllib.request.urlopen(URL + "/_courrier/mailbox?kind=delivery"))
print(code, json.dumps([m["recipient"] for m in mailbox["messages"]
                        if m["ses_message_id"] == message_id]))
sqs = boto3.client("sqs", endpoint_url=URL, region_name="us-east-1",
                   aws_access_key_id="alone", aws_secret_access_key="alone")
queue = sqs.get_queue_url(QueueName="feedback")["QueueUrl"]
found = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
print(json.dumps([json.loads(m["Body"])["notificationType"] for m in found]))
print(sorted(m for m in sys.modules if m == "courrier" or m.startswith("courrier.")))
"""


def test_the_sandbox_alone_sends_to_the_simulator(environments: dict[str, Path]) -> None:
    """A boto3 script, then a plain smtplib one, against the console script, in an
    environment without courrier: the same feedback; then the in-process sandbox, which
    loads no module of courrier's."""
    home = environments["sandbox-alone"]
    port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    command = str(home / "bin" / "courrier-sandbox")
    with running([command, "--port", str(port), "--smtp-port", str(smtp_port)]) as process:
        wait_for(f"{url}/_courrier/health", process)
        script = f"URL = {url!r}\n{SEND_TO_THE_SIMULATOR}"
        out = run([python(home), "-c", script]).stdout.splitlines()
        # The boto3 script verified both identities and set up the Bounce topic and queue.
        script = f"URL = {url!r}\nSMTP_PORT = {smtp_port}\n{SMTP_TO_THE_SIMULATOR}"
        by_smtp = run([python(home), "-c", script]).stdout.splitlines()
    assert out[0] == '["rcpt@example.com"]'
    assert out[1] == '["Bounce"]'
    assert out[2] == "[]"
    assert by_smtp == ['250 ["rcpt@example.com"]', '["Bounce"]', "[]"]
    in_process = textwrap.dedent(
        """
        import sys
        from courrier_sandbox import Sandbox

        with Sandbox() as url:
            pass
        print(sorted(m for m in sys.modules if m == "courrier" or m.startswith("courrier.")))
        """
    )
    assert run([python(home), "-c", in_process]).stdout.strip() == "[]"


def test_dashboard_extra_serves_pages(environments: dict[str, Path], tmp_path: Path) -> None:
    home = environments["dashboard"]
    port = free_port()
    store = f"sqlite:///{tmp_path / 'courrier.db'}"
    with running(
        [courrier(home), "--database-url", store, "dashboard", "--port", str(port)]
    ) as process:
        body = wait_for(f"http://127.0.0.1:{port}/messages", process)
    assert "courrier" in body.lower()


def test_metrics_extra_serves_metrics(environments: dict[str, Path]) -> None:
    home = environments["metrics"]
    script = textwrap.dedent(
        """
        import urllib.request
        from courrier.metrics import Metrics

        server = Metrics().serve(0)
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            print(urllib.request.urlopen(url, timeout=10).read().decode())
        finally:
            server.close()
        """
    )
    out = run([python(home), "-c", script]).stdout
    assert "courrier_" in out


def test_django_extra_checks_and_runs_the_management_command(
    environments: dict[str, Path], tmp_path: Path
) -> None:
    home = environments["django"]
    (tmp_path / "smoke_settings.py").write_text(
        textwrap.dedent(
            f"""
            SECRET_KEY = "install-test"
            USE_TZ = True
            INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                              "courrier.django"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                       "NAME": {str(tmp_path / "django.db")!r}}}}}
            EMAIL_BACKEND = "courrier.django.backend.EmailBackend"
            COURRIER = {{"database_url": "sqlite:///{tmp_path / "courrier.db"}"}}
            """
        )
    )
    admin = [str(home / "bin" / "django-admin")]
    options = ["--settings", "smoke_settings", "--pythonpath", str(tmp_path)]
    check = run([*admin, "check", *options], check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    migrate = run([*admin, "migrate", "--verbosity", "0", *options], check=False)
    assert migrate.returncode == 0, migrate.stderr
    command = run([*admin, "courrier", *options, "--help"], check=False)
    assert command.returncode == 0, command.stderr
    assert "worker" in command.stdout


# ----------------------------------------------------------------------------- helpers


def python(home: Path) -> str:
    return str(home / "bin" / "python")


def courrier(home: Path) -> str:
    return str(home / "bin" / "courrier")


def run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run outside the checkout with an environment that points at no AWS and no extra path."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COURRIER_"))}
    clean.pop("PYTHONPATH", None)
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        argv,
        cwd=cwd or Path(os.sep, "tmp"),
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class running:
    """A command in the background for the length of a ``with`` block."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    def __enter__(self) -> subprocess.Popen[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COURRIER_"))}
        self.process = subprocess.Popen(
            self.argv, env=clean, cwd=os.sep + "tmp", stderr=subprocess.PIPE, text=True
        )
        return self.process

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.communicate(timeout=30)


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The first answer of ``url``, served by ``process`` once it has started."""

    def answer() -> str | None:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {process.stderr}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: str = response.read().decode()
                return body
        except (urllib.error.URLError, ConnectionError):
            return None  # not listening yet

    return wait_until(answer, timeout, interval=0.05, what=f"{url} never answered")
