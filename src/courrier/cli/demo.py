"""``courrier demo``: setup, send, consume, report; offline in the sandbox by default."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from courrier.aws.clients import AwsConfig
from courrier.cli.common import handles_errors
from courrier.demo import EXPECTED_SUPPRESSIONS, DemoReport, run_demo
from courrier.extras import needs_extra


@contextlib.contextmanager
def _aws(endpoint: str | None, use_aws: bool, console: Console) -> Iterator[AwsConfig]:
    """Where the demo runs: AWS, ``endpoint``, or (by default) a sandbox started for it."""
    if use_aws or endpoint:
        yield AwsConfig(endpoint_url=endpoint)
        return
    with needs_extra("sandbox", "courrier demo (offline; --aws or --endpoint run without it)"):
        from courrier_sandbox import Sandbox, SesOptions

    with Sandbox(options=SesOptions(max_send_rate=10)) as url:
        console.print(f"sandbox running at {url} (SES, SNS and SQS offline)")
        yield AwsConfig(
            region="us-east-1",
            endpoint_url=url,
            access_key_id="demo",
            secret_access_key="demo",
        )


@click.command()
@click.option("--endpoint", help="Run against this AWS-compatible endpoint instead.")
@click.option("--aws", "use_aws", is_flag=True, help="Run against AWS (standard AWS settings).")
@click.option(
    "--identity",
    default="bücher.example",
    show_default=True,
    help="Sender domain (must be verifiable where the demo runs).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for feedback.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo's SQLite store goes (default: a temporary folder).",
)
@handles_errors
def demo(
    endpoint: str | None, use_aws: bool, identity: str, timeout: float, workdir: Path | None
) -> None:
    """Set up the pipeline, send to every simulator case, apply the feedback, show the outcome.

    Exits 0 only when every outcome is the one AWS documents.
    """
    console = Console()
    if not console.is_terminal:
        # Piped or logged output: wide enough that each outcome stays on one line.
        console = Console(width=140)
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config = stack.enter_context(_aws(endpoint, use_aws, console))
        progress = stack.enter_context(Progress(console=console, transient=True))
        task = progress.add_task("waiting for SES feedback", total=None)
        report = run_demo(
            config,
            folder,
            identity=identity,
            timeout=timeout,
            on_setup=lambda changes, queue: console.print(
                f"setup: {changes} changes, queue {queue}"
            ),
            on_progress=lambda seen, expected: progress.update(
                task, completed=seen, total=expected
            ),
        )
    _show(console, report)
    # The dashboard shows what the demo left in its store (a temporary one is gone by now).
    store_url = f"sqlite:///{folder / 'courrier.db'}" if workdir else "sqlite:///demo/courrier.db"
    me = command_name()
    console.print(
        f"next: {'' if workdir else f'{me} demo --workdir demo && '}"
        f"{me} --database-url {store_url} dashboard"
    )
    if not report.ok:
        raise click.ClickException("some outcomes differ from what AWS documents")


def _show(console: Console, report: DemoReport) -> None:
    table = Table(title="What happened to each message")
    for column in ("case", "recipient", "feedback", "status", "as documented"):
        table.add_column(column)
    for result in report.cases:
        case = result.case
        table.add_row(
            case.label,
            result.address,
            ", ".join(result.seen) or "(none)",
            result.status,
            "yes" if result.ok else f"NO (expected {', '.join(case.events)}; {case.status})",
        )
    console.print(table)
    listing = Table(title="Suppression list")
    listing.add_column("address")
    listing.add_column("reason")
    for address, reason in sorted(report.suppressions.items()):
        listing.add_row(address, reason)
    console.print(listing)
    if not report.suppressions_ok:
        expected = {address: str(reason) for address, reason in EXPECTED_SUPPRESSIONS.items()}
        console.print(f"[red]expected suppressions {expected}[/red]")
    console.print(
        "[green]every outcome is the one AWS documents[/green]"
        if report.ok
        else "[red]some outcomes differ[/red]"
    )


def command_name() -> str:
    """How to run this command again from here: ``courrier`` when that is on the PATH,
    else the path it was started by (``make demo`` runs ``.venv/bin/courrier``, which no
    PATH names until the virtual environment is activated)."""
    invoked = Path(sys.argv[0])
    found = shutil.which("courrier")
    if invoked.name != "courrier" or not invoked.is_file():
        return "courrier"
    if found is not None and Path(found).resolve() == invoked.resolve():
        return "courrier"
    return str(invoked)
