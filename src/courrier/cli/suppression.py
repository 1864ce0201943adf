"""``courrier suppression``: the list of addresses courrier never mails."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from courrier.addresses import parse_address
from courrier.cli.common import handles_errors, open_store, settings_from


@click.group()
def suppression() -> None:
    """List, add and remove suppressed addresses."""


@suppression.command("list")
@click.option("--reason", help="Only entries with this reason (bounce, complaint, manual...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
@handles_errors
def list_(ctx: click.Context, reason: str | None, as_json: bool) -> None:
    """Show the suppression list."""
    import json

    entries = open_store(ctx, settings_from(ctx).database_url).suppressions(reason=reason)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.as_dict()))
        return
    table = Table(title=f"{len(entries)} suppressed address(es)")
    for column in ("address", "reason", "source", "first seen", "last seen", "detail"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            entry.address,
            entry.reason,
            entry.source,
            entry.first_seen.strftime("%Y-%m-%d %H:%M"),
            entry.last_seen.strftime("%Y-%m-%d %H:%M"),
            entry.detail or "",
        )
    Console().print(table)


@suppression.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--reason", default="manual", show_default=True)
@click.option("--detail", help="Free text kept with the entry.")
@click.pass_context
@handles_errors
def add(ctx: click.Context, addresses: tuple[str, ...], reason: str, detail: str | None) -> None:
    """Suppress ADDRESSES: courrier will not send to them."""
    store = open_store(ctx, settings_from(ctx).database_url)
    for address in addresses:
        normalised = parse_address(address).email
        store.suppress(normalised, reason=reason, source="manual", detail=detail)
        click.echo(f"suppressed {normalised}")


@suppression.command()
@click.argument("addresses", nargs=-1, required=True)
@click.pass_context
@handles_errors
def remove(ctx: click.Context, addresses: tuple[str, ...]) -> None:
    """Take ADDRESSES off the list."""
    store = open_store(ctx, settings_from(ctx).database_url)
    missing = 0
    for address in addresses:
        normalised = parse_address(address).email
        if store.unsuppress(normalised):
            click.echo(f"removed {normalised}")
        else:
            click.echo(f"{normalised} was not suppressed", err=True)
            missing += 1
    if missing:
        ctx.exit(1)
