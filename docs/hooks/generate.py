"""MkDocs hook: the settings and command-line references, written from the code at build time.

``reference/settings.md`` comes from the fields of :class:`courrier.settings.Settings` and the
``#:`` comments above them; ``reference/cli.md`` from the Click commands' own ``--help``. Both
are generated files of the build, never committed, so they always say what the code does.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from pathlib import Path
from typing import Any

import click

from courrier.cli import main
from courrier.settings import CONFIG_FILE, LIMITS, Settings

SETTINGS_SOURCE = Path(__file__).resolve().parents[2] / "src" / "courrier" / "settings.py"

# Some source comments still cite sections of the team's fact file; until they link AWS
# themselves, the rendered pages link the AWS page each section comes from.
#: The code cites docs/ses.md#SECTION where it depends on a behaviour of SES: a link there.
FACT = re.compile(r"docs/ses\.md#([a-z-]+)")


def on_files(files: Any, config: Any) -> Any:
    """Add the generated reference pages to the build."""
    # Imported here so that tests can build the pages without MkDocs installed.
    from mkdocs.structure.files import File

    files.append(File.generated(config, "reference/settings.md", content=settings_page()))
    files.append(File.generated(config, "reference/cli.md", content=cli_page()))
    return files


def aws_link(match: re.Match[str]) -> str:
    """A link from the settings page (under reference/) to the section of ses.md."""
    return f"[How SES behaves](../ses.md#{match.group(1)})"


# ---------------------------------------------------------------- settings


def setting_comments() -> dict[str, str]:
    """Each field's ``#:`` comment; a field without one shares the group's above it."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    last = ""
    in_class = False
    names = {f.name for f in dataclasses.fields(Settings)}
    source = SETTINGS_SOURCE.read_text(encoding="utf-8")
    for line in source.splitlines():
        if line.startswith("class Settings"):
            in_class = True
            continue
        if not in_class:
            continue
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
        elif stripped.startswith(("@", "def ")):
            break
        elif stripped.split(":", 1)[0].strip() in names:
            name = stripped.split(":", 1)[0].strip()
            if pending:
                last = " ".join(pending)
                pending = []
            comments[name] = last
        else:  # a blank line or a plain comment starts a new group
            pending, last = [], ""
    return comments


def setting_types() -> dict[str, str]:
    """Each setting's type as a reader wants it: the values of a choice, "list" for a tuple."""
    hints = typing.get_type_hints(Settings)
    return {name: type_name(hint) for name, hint in hints.items()}


def type_name(hint: object) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(args) < len(typing.get_args(hint))
    kind = args[0] if optional and len(args) == 1 else hint
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        name = " or ".join(f'"{m.value}"' for m in kind)
    elif typing.get_origin(kind) is tuple:
        name = "list of str"
    else:
        name = getattr(kind, "__name__", str(kind))
    return f"{name} or none" if optional else name


def shown_default(default: object) -> str:
    if default is None or default == ():
        return "none"
    if isinstance(default, enum.Enum):
        return f'`"{default.value}"`'
    if isinstance(default, tuple):
        return "`" + ", ".join(default) + "`"
    return f"`{default!r}`"


def limit(name: str) -> str:
    """The largest value a numeric setting accepts, as the reference shows it."""
    return f", at most {LIMITS[name]:,.0f}" if name in LIMITS else ""


def settings_page() -> str:
    comments = setting_comments()
    types = setting_types()
    lines = [
        "# Settings",
        "",
        "<!-- Generated from courrier.settings at build time (docs/hooks/generate.py). -->",
        "",
        "Every setting is read through one object, `courrier.Settings`. Each is looked up in "
        "this order, the first match winning:",
        "",
        "1. the keyword argument given to `Settings.load()`, or the command-line option;",
        "2. the environment variable `COURRIER_<NAME>`;",
        f"3. the `[courrier]` table of `{CONFIG_FILE}` in the working directory, or of the "
        "file named by `--config` or `COURRIER_CONFIG`;",
        "4. the default below.",
        "",
        f"`{CONFIG_FILE}` in the working directory may be absent; a file named by `--config` "
        "or `COURRIER_CONFIG` must exist (a misspelt name is an error, exit code 2, rather "
        "than a silent run on the defaults).",
        "",
        "In Django, the `COURRIER` dictionary of `settings.py` takes the same names in upper "
        "case and ranks like an argument (see [Django](../django.md#settings)). True and "
        "false are `1`/`true`/`yes`/`on` and `0`/`false`/`no`/`off` in the environment; "
        "fractions such as `0.04` mean 4%.",
        "",
        "AWS credentials, the region and the endpoint are not courrier settings: boto3's own "
        "chain applies (`AWS_PROFILE`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, "
        "`~/.aws/config`). `profile` and `region` override it only when set.",
        "",
        "| setting | environment variable | type | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for field in dataclasses.fields(Settings):
        default = field.default
        shown = shown_default(default)
        meaning = FACT.sub(aws_link, comments.get(field.name, "")).replace("|", "\\|")
        lines.append(
            f"| `{field.name}` | `COURRIER_{field.name.upper()}` "
            f"| {types[field.name]}{limit(field.name)} | {shown} | {meaning} |"
        )
    lines += [
        "",
        f"A `{CONFIG_FILE}` uses the same names as keys of its `[courrier]` table:",
        "",
        "```toml",
        "[courrier]",
        'database_url = "postgresql://courrier@db.internal/courrier"',
        "send_burst = 0.5",
        "guard_blocks_transactional = true",
        "",
        "# The same settings may be grouped by their first word:",
        "[courrier.guard]",
        "bounce_trip = 0.03",
        "```",
        "",
        "Numbers must be finite and at most the limit shown with their type (days: ten "
        "years; seconds: an hour for timeouts and backoff, a day for leases and holds), far "
        "beyond any real use: `inf`, `nan` or `1e400` is refused rather than overflowing a "
        "date or a timeout later. An empty `region` is refused rather than read as unset (it "
        "is most often a `${REGION}` left empty): unset it to use boto3's chain. Each of "
        "`dns_nameservers` must be an IPv4 or IPv6 address. Commands refuse an in-memory "
        "SQLite store (`sqlite://`, `sqlite:///:memory:`), which would be lost when they end. "
        "A `COURRIER_*` variable that names no setting is logged as a warning with the "
        "closest name (an unknown key in the file is an error).",
        "",
        "Lists are TOML arrays in the file and text separated by commas in the environment. "
        "Related settings are checked together when they are loaded (a warning line above "
        "its trip line, a negative delay, an unknown route): the error names the setting, "
        "and a command exits with code 2.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def cli_page() -> str:
    lines = [
        "# Command line",
        "",
        "<!-- Generated from the Click commands at build time (docs/hooks/generate.py). -->",
        "",
        "Every command below is also `python -m courrier ...` and, in a Django project, "
        "`python manage.py courrier ...`. Options rank above environment variables and "
        "`courrier.toml` (see [Settings](settings.md)).",
        "",
    ]
    root = click.Context(main, info_name="courrier", terminal_width=88, max_content_width=88)
    lines += command_section(main, root, "courrier", 2)
    return "\n".join(lines)


def command_section(command: click.Command, ctx: click.Context, path: str, level: int) -> list[str]:
    out = [f"{'#' * level} {path}", "", "```text", command.get_help(ctx), "```", ""]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None:
                continue
            sub_ctx = click.Context(sub, info_name=name, parent=ctx)
            out += command_section(sub, sub_ctx, f"{path} {name}", min(level + 1, 4))
    return out


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Docstrings rendered by mkdocstrings cite docs/ses.md#SECTION: make each a link."""
    up = "../" * page.url.count("/")
    return FACT.sub(lambda m: f'<a href="{up}ses/#{m.group(1)}">How SES behaves</a>', html)
