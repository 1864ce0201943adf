"""The package's shape: its public API, the rules of the house, and CLI help."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

import courrier
from courrier import errors
from courrier.cli import COMMANDS, main

PACKAGE = Path(courrier.__file__).parent
ROOT = PACKAGE.parent.parent
#: The other two distributions of this repository.
SANDBOX = ROOT / "sandbox" / "src" / "courrier_sandbox"
POLICY = ROOT / "policy" / "src" / "courrier_policy"
#: The only modules of courrier that import the sandbox, and only inside ``needs_extra``.
SANDBOX_COMMANDS = ("cli/sandbox.py", "cli/demo.py")


def test_public_api_is_complete() -> None:
    exported = set(courrier.__all__)
    assert all(hasattr(courrier, name) for name in exported)
    public_errors = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.CourrierError)
    }
    assert public_errors <= exported
    assert set(errors.__all__) == public_errors


def test_every_error_is_a_courrier_error_and_drawn_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.CourrierError)
        assert name in doc, f"{name} is missing from the tree in errors.py"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules(under: str = "") -> list[tuple[str, Path]]:
    root = PACKAGE / under if under else PACKAGE
    return [
        (str(p.relative_to(PACKAGE)), p)
        for p in sorted(root.rglob("*.py"))
        if "migrations" not in p.parts
    ]


@pytest.mark.parametrize(("name", "path"), modules())
def test_rules_of_the_house(name: str, path: Path) -> None:
    imported = imports_of(path)
    top = name.split("/", maxsplit=1)[0]
    if name not in SANDBOX_COMMANDS:
        assert not any(m.startswith("courrier_sandbox") for m in imported), (
            "only the sandbox and demo commands import the sandbox (courrier[sandbox])"
        )
    if top != "aws":
        assert not any(m.startswith("botocore") for m in imported), (
            "botocore stays behind courrier.aws"
        )
    # feedback/apply.py names the Session type of the transaction the store hands it.
    if top != "store" and name != "feedback/apply.py":
        assert not any(m.startswith("sqlalchemy") for m in imported), (
            "SQLAlchemy stays behind courrier.store"
        )
    # manage.py courrier runs the CLI inside Django.
    if top not in ("cli", "__main__.py") and name != "django/management/commands/courrier.py":
        assert not any(m.startswith("courrier.cli") for m in imported), (
            "the library never imports the CLI"
        )
    if top == "reputation":
        assert not any(
            m.startswith(("courrier.sending", "courrier.web", "courrier.metrics")) for m in imported
        ), "reputation is read by sending, the web and metrics, never the other way round"
    if top == "feedback":
        assert not any(m.startswith("courrier.sending") for m in imported), (
            "feedback never depends on the sender (shared helpers live at the top: backoff)"
        )
    if name == "backoff.py":
        assert not any(m.startswith("courrier.") for m in imported), (
            "backoff imports nothing of courrier: sending and feedback both use it"
        )
    if name == "clock.py":
        assert not any(m.startswith("courrier.") for m in imported), (
            "clock imports nothing of courrier: every layer takes its protocols"
        )
    if top not in ("web", "cli"):
        assert not any(m.startswith("courrier.web") for m in imported), (
            "only the CLI serves the dashboard"
        )
    if top != "web":
        assert not any(m.startswith(("starlette", "jinja2", "uvicorn")) for m in imported) or (
            name == "cli/dashboard.py"
        ), "the web stack stays in courrier.web (the dashboard extra)"
    if name not in ("metrics.py", "web/app.py"):
        assert not any(m.startswith("prometheus_client") for m in imported), (
            "prometheus-client stays in courrier.metrics (the metrics extra)"
        )
    if top != "django":
        assert not any(
            m == "django" or m.startswith(("django.", "courrier.django")) for m in imported
        ), "only courrier.django imports Django; the library never imports the integration"


@pytest.mark.parametrize("name", SANDBOX_COMMANDS)
def test_the_sandbox_is_imported_only_inside_needs_extra(name: str) -> None:
    tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
    guarded = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.With) and any(_is_needs_extra(item) for item in node.items)
        for inner in ast.walk(node)
    }
    sandbox_imports = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import) and "courrier_sandbox" in ast.dump(node)
    ]
    assert sandbox_imports, f"{name} no longer imports the sandbox: update SANDBOX_COMMANDS"
    assert all(id(node) in guarded for node in sandbox_imports), (
        f"{name} imports courrier_sandbox outside needs_extra('sandbox', ...)"
    )


def _is_needs_extra(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "needs_extra"
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "sandbox"
    )


def distribution_modules(root: Path) -> list[tuple[str, Path]]:
    return [(str(p.relative_to(root.parent)), p) for p in sorted(root.rglob("*.py"))]


@pytest.mark.parametrize(("name", "path"), distribution_modules(SANDBOX))
def test_the_sandbox_never_imports_courrier(name: str, path: Path) -> None:
    imported = imports_of(path)
    assert not any(m == "courrier" or m.startswith("courrier.") for m in imported), (
        "courrier-sandbox stands in for AWS and never imports courrier's client side"
    )
    assert not any(m.startswith(("sqlalchemy", "alembic", "rich", "boto3")) for m in imported), (
        "the sandbox needs none of the client's dependencies"
    )


@pytest.mark.parametrize(("name", "path"), distribution_modules(POLICY))
def test_the_policy_evaluator_imports_only_the_standard_library(name: str, path: Path) -> None:
    imported = {m.partition(".")[0] for m in imports_of(path)}
    assert imported <= sys.stdlib_module_names | {"__future__"}, (
        "courrier-policy is shared by courrier and the sandbox: it depends on neither"
    )


def test_importing_courrier_imports_no_django() -> None:
    code = "import sys, courrier, courrier.cli; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


HEAVY = ("boto3", "botocore", "sqlalchemy", "alembic", "rich", "cryptography", "email_validator")


@pytest.mark.parametrize(
    "code",
    [
        "import courrier",
        "import courrier.cli",
        "from courrier.cli import main; main(['--help'], standalone_mode=False)",
        "from courrier.cli import main; main(['--version'], standalone_mode=False)",
    ],
)
def test_start_up_loads_no_heavy_dependency(code: str) -> None:
    """``import courrier`` and ``courrier --help`` stay fast: every heavy import waits for use."""
    probe = f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = sorted({m for m in loaded if m.split(".")[0] in HEAVY})
    assert not heavy, f"{code!r} imported {heavy}"
    assert "courrier.feedback" not in loaded
    assert "courrier.store" not in loaded


def test_the_package_exports_every_name_lazily() -> None:
    import courrier

    for name in courrier.__all__:
        assert getattr(courrier, name) is not None, name
    assert sorted(dir(courrier)) == sorted(courrier.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = courrier.no_such_name


def test_command_summaries_match_each_command() -> None:
    """The summaries ``courrier --help`` shows without importing a command are its own."""
    ctx = click.Context(main)
    assert set(COMMANDS) == set(main.list_commands(ctx))
    for name, (_, summary) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None
        assert command.get_short_help_str(limit=1000) == summary, name


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        out.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            out.extend(commands(command, f"{prefix}{name} "))
    return out


def docs_hook() -> Any:
    """docs/hooks/generate.py, the MkDocs hook that writes the command-line reference."""
    path = PACKAGE.parent.parent / "docs" / "hooks" / "generate.py"
    spec = importlib.util.spec_from_file_location("courrier_docs_hook", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cli_reference() -> str:
    return str(docs_hook().cli_page())


@pytest.fixture(scope="module")
def guides() -> str:
    root = PACKAGE.parent.parent
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


@pytest.mark.parametrize(("name", "command"), commands(main))
def test_every_command_has_help_and_is_documented(
    name: str, command: click.Command, cli_reference: str, guides: str
) -> None:
    assert command.help, f"courrier {name} has no help text"
    assert f"# courrier {name}\n" in cli_reference, f"courrier {name} is not in the CLI reference"
    assert f"courrier {name}" in guides, f"no page of docs/ or README.md uses courrier {name}"


def undocumented() -> list[str]:
    """Exported names, and their public methods and properties, without a docstring of their
    own (a dataclass's generated signature is not one)."""
    import inspect

    missing = []
    for name in courrier.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(courrier, name)
        doc = (obj.__doc__ or "").strip()
        if not doc or (inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(")):
            missing.append(name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for attribute, member in vars(obj).items():
            function = member.fget if isinstance(member, property) else member
            function = getattr(function, "__func__", function)
            public = not attribute.startswith("_") and inspect.isfunction(function)
            if public and not (function.__doc__ or "").strip():
                missing.append(f"{name}.{attribute}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    assert undocumented() == []


def test_nothing_cites_a_document_outside_the_repository() -> None:
    """SES behaviours are cited by the AWS page or by docs/ses.md, which links AWS."""
    marker = "facts " + "\u00a7"
    root = PACKAGE.parent.parent
    found = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("src", "sandbox", "policy", "tests", "bench", "docs")
        for path in sorted((root / folder).rglob("*"))
        if path.suffix in (".py", ".md", ".html", ".toml", ".yml")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]
    found += [
        f"README.md:{n}"
        for n, line in enumerate((root / "README.md").read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]
    assert not found, found
