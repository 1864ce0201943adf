"""``courrier outbox run|status|retry|resolve``: send what was queued, see where it stands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from courrier.cli.common import (
    EXIT_FAILED,
    handles_errors,
    open_store,
    refuse_in_memory,
    settings_from,
    stop_signals,
)
from courrier.sending import Mailer
from courrier.sending.outbox import OutboxEntry, OutboxRunner, outbox_status, resolve, retry
from courrier.statuses import RunOutcome
from courrier.store import outbox as rows


@click.group()
def outbox() -> None:
    """Send queued messages (Mailer.enqueue, courrier bulk) and decide about unknown ones."""


@contextmanager
def _progress(runner: OutboxRunner, enabled: bool) -> Iterator[None]:
    """A progress bar of the rows due when the run started, on a terminal only."""
    if not enabled:
        yield
        return
    include_bulk = runner.paused() is None
    total = rows.due_waiting(runner.store, include_bulk=include_bulk)
    columns = (
        TextColumn("[bold]outbox"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("outbox", total=total or None, detail="")
        done: dict[RunOutcome, int] = {}

        def on_row(entry: OutboxEntry, outcome: RunOutcome) -> None:
            done[outcome] = done.get(outcome, 0) + 1
            finished = sum(n for o, n in done.items() if o is not RunOutcome.REQUEUED)
            detail = ", ".join(f"{n} {o}" for o, n in sorted(done.items()))
            task_total = progress.tasks[0].total
            if task_total is not None and finished > task_total:
                progress.update(task, total=finished)
            progress.update(task, completed=finished, detail=detail)

        runner.on_row = on_row
        yield


@outbox.command()
@click.option("--until-empty", is_flag=True, help="Stop once no queued message is due.")
@click.option("--batch", default=10, show_default=True, help="Rows claimed at a time.")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sends in flight at once (threads sharing the send rate).",
)
@click.pass_context
@handles_errors
def run(ctx: click.Context, until_empty: bool, batch: int, concurrency: int) -> None:
    """Send due messages until SIGTERM/SIGINT (or, with --until-empty, until none is due).

    Any number of runners may share a store: each row is claimed by one of them and sent at
    most once. A signal finishes the message in hand, gives the other claimed rows back and
    exits 0.
    """
    settings = settings_from(ctx)
    refuse_in_memory(settings.database_url)
    mailer = Mailer.from_settings(settings)
    ctx.call_on_close(mailer.store.close)
    runner = OutboxRunner(mailer, batch=batch, concurrency=concurrency)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    with stop_signals(on_signal), _progress(runner, sys.stdout.isatty()):
        click.echo(f"outbox runner {runner.claimer} started", err=True)
        report = runner.run(until_empty=until_empty)
    summary = ", ".join(f"{n} {o}" for o, n in sorted(report.outcomes.items())) or "nothing due"
    if report.expired:
        summary += f"; {report.expired} left sending by a runner that went away are now unknown"
    click.echo(summary)


@outbox.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@handles_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Messages per status, the unknown ones, and whether bulk sends are paused."""
    report = outbox_status(open_store(ctx, settings_from(ctx).database_url))
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo("  ".join(f"{status} {count}" for status, count in report.counts.items()))
    if report.paused:
        click.echo(f"{report.paused} (bulk messages wait; transactional ones are sent)")
    for held in report.held:
        until = held.held_until.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"tenant {held.tenant} paused by SES: its rows wait until {until} UTC")
    if report.unknown:
        table = Table(
            title=f"{report.counts['unknown']} unknown: sent or not? check, then "
            "`courrier outbox resolve ID --sent|--failed` or `outbox retry ID`"
        )
        for column in ("id", "key", "claimed by", "claimed at", "error"):
            table.add_column(column)
        for entry in report.unknown:
            table.add_row(
                str(entry.id),
                entry.key,
                entry.claimed_by or "",
                entry.claimed_at.strftime("%Y-%m-%d %H:%M:%S") if entry.claimed_at else "",
                entry.error or "",
            )
        Console().print(table)


def _show(ctx: click.Context, entry: OutboxEntry | None, wanted: str, entry_id: int) -> None:
    if entry is None:
        click.echo(f"no outbox row {entry_id}", err=True)
        ctx.exit(EXIT_FAILED)
    elif entry.status != wanted:
        click.echo(f"row {entry_id} is {entry.status}: left as it is", err=True)
        ctx.exit(EXIT_FAILED)
    else:
        click.echo(f"row {entry_id} is {entry.status}")


@outbox.command("retry")
@click.argument("entry_id", type=int, metavar="ID")
@click.pass_context
@handles_errors
def retry_command(ctx: click.Context, entry_id: int) -> None:
    """Queue an unknown or failed row again (you checked that it was not sent)."""
    store = open_store(ctx, settings_from(ctx).database_url)
    _show(ctx, retry(store, entry_id), "queued", entry_id)


@outbox.command("resolve")
@click.argument("entry_id", type=int, metavar="ID")
@click.option("--sent", "outcome", flag_value="sent", help="It was sent.")
@click.option("--failed", "outcome", flag_value="failed", help="It was not sent.")
@click.pass_context
@handles_errors
def resolve_command(ctx: click.Context, entry_id: int, outcome: str | None) -> None:
    """Settle an unknown row as --sent or --failed."""
    if outcome is None:
        raise click.UsageError("give --sent or --failed")
    store = open_store(ctx, settings_from(ctx).database_url)
    _show(ctx, resolve(store, entry_id, sent=outcome == "sent"), outcome, entry_id)
