"""``courrier suppression``: the list of addresses courrier never mails."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from courrier.addresses import parse_address
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.cli.common import handles_errors, open_store, settings_from
from courrier.message import check_tenant_name
from courrier.reputation import sync as sync_lists
from courrier.statuses import SuppressionReason
from courrier.store import Store
from courrier.store.store import Suppression


@click.group()
def suppression() -> None:
    """List, add and remove suppressed addresses; sync with SES's account-level list."""


@suppression.command("list")
@click.option("--reason", help="Only entries with this reason (bounce, complaint, manual...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--tenant", help="This SES tenant's own list (its complaints and unsubscribes) instead."
)
@click.pass_context
@handles_errors
def list_(ctx: click.Context, reason: str | None, as_json: bool, tenant: str | None) -> None:
    """Show the suppression list (with --tenant, that tenant's own: the addresses it may not
    mail, and with reason "unsubscribe" those who left its bulk mail)."""
    import json

    store = open_store(ctx, settings_from(ctx).database_url)
    entries = store.suppressions(reason=reason, tenant=check_tenant_name(tenant))
    if tenant is not None and reason in (None, UNSUBSCRIBE):
        entries += _tenant_unsubscribes(store, tenant)
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


#: The reason ``list --tenant`` shows a tenant's unsubscribes with.
UNSUBSCRIBE = "unsubscribe"


def _tenant_unsubscribes(store: Store, tenant: str) -> list[Suppression]:
    """``tenant``'s unsubscribes as entries of its list: ``detail`` names the list."""
    from courrier.store.unsubscribes import count_unsubscribes, list_unsubscribes

    found = list_unsubscribes(store, tenant=tenant, limit=count_unsubscribes(store, tenant=tenant))
    return [
        Suppression(
            entry.address,
            UNSUBSCRIBE,
            entry.source,
            f"list {entry.list_name}" if entry.list_name else "every list",
            entry.created_at,
            entry.created_at,
            None,
        )
        for entry in sorted(found, key=lambda e: (e.address, e.list_name or ""))
    ]


@suppression.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option("--reason", default=SuppressionReason.MANUAL.value, show_default=True)
@click.option("--detail", help="Free text kept with the entry.")
@click.pass_context
@handles_errors
def add(ctx: click.Context, addresses: tuple[str, ...], reason: str, detail: str | None) -> None:
    """Suppress ADDRESSES: courrier will not send to them."""
    store = open_store(ctx, settings_from(ctx).database_url)
    for address in addresses:
        normalised = parse_address(address).email
        store.suppress(normalised, reason=reason, source=SuppressionReason.MANUAL, detail=detail)
        click.echo(f"suppressed {normalised}")


@suppression.command()
@click.argument("addresses", nargs=-1, required=True)
@click.option(
    "--tenant",
    help="Take them off this SES tenant's own list instead (its unsubscribes stay: see "
    "resubscribe).",
)
@click.pass_context
@handles_errors
def remove(ctx: click.Context, addresses: tuple[str, ...], tenant: str | None) -> None:
    """Take ADDRESSES off the list (with --tenant, off that tenant's own). An unsubscribe is
    the recipient's own choice and stays: `resubscribe` clears one when they ask."""
    store = open_store(ctx, settings_from(ctx).database_url)
    tenant = check_tenant_name(tenant)
    missing = 0
    for address in addresses:
        normalised = parse_address(address).email
        if store.unsuppress(normalised, tenant=tenant):
            click.echo(f"removed {normalised}")
        else:
            click.echo(f"{normalised} was not suppressed", err=True)
            missing += 1
    if missing:
        ctx.exit(1)


@suppression.command()
@click.option("--pull", is_flag=True, help="Only copy SES's entries into the local list.")
@click.option("--push", is_flag=True, help="Only copy local bounces and complaints to SES.")
@click.option("--dry-run", is_flag=True, help="Report what differs; change nothing.")
@click.option(
    "--page-size",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Entries per ListSuppressedDestinations call.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@handles_errors
def sync(
    ctx: click.Context, pull: bool, push: bool, dry_run: bool, page_size: int, as_json: bool
) -> None:
    """Sync the local list with SES's account-level suppression list (both ways by default).

    Pulls SES's entries (with their reasons and dates) into the local list, pushes local
    hard bounces and complaints to SES (PutSuppressedDestination: production accounts only),
    and reports what differs. Nothing is removed on either side; a second run changes nothing.

    Example:

        courrier suppression sync --dry-run
    """
    import json

    settings = settings_from(ctx)
    both = not pull and not push
    ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
    report = sync_lists(
        open_store(ctx, settings.database_url),
        ses,
        pull=pull or both,
        push=push or both,
        dry_run=dry_run,
        page_size=page_size,
    )
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    verb = "would " if dry_run else ""
    click.echo(f"read {report.pages} page(s) of SES's account-level list")
    click.echo(f"{verb}pull {len(report.pulled)}: {', '.join(report.pulled) or '-'}")
    click.echo(f"{verb}push {len(report.pushed)}: {', '.join(report.pushed) or '-'}")
    click.echo(f"only local, kept local: {len(report.only_local)}")
    click.echo(f"only on SES, not pulled: {len(report.only_ses)}")
    click.echo(f"on both: {report.in_both}")


@suppression.command()
@click.option("--address", help="Only this address's unsubscribes.")
@click.option("--limit", default=100, show_default=True, help="How many, latest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--tenant", help="Only those from this SES tenant's links.")
@click.pass_context
@handles_errors
def unsubscribes(
    ctx: click.Context, address: str | None, limit: int, as_json: bool, tenant: str | None
) -> None:
    """Show who unsubscribed from bulk mail (one-click links), from which list, when and how.

    Unsubscribed recipients get no bulk mail of that list (or of any list, when the link
    named none); transactional mail still reaches them.
    """
    import json

    from courrier.store.unsubscribes import count_unsubscribes, list_unsubscribes

    store = open_store(ctx, settings_from(ctx).database_url)
    tenant = check_tenant_name(tenant)
    entries = list_unsubscribes(store, address=address, limit=limit, tenant=tenant)
    if as_json:
        for entry in entries:
            click.echo(
                json.dumps(
                    {
                        "address": entry.address,
                        "list": entry.list_name,
                        "tenant": entry.tenant,
                        "source": entry.source,
                        "created_at": entry.created_at.isoformat(),
                    }
                )
            )
        return
    total = count_unsubscribes(store, tenant=tenant)
    table = Table(title=f"{total} unsubscribe(s), latest {len(entries)}")
    for column in ("address", "list", "tenant", "source", "when"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            entry.address,
            entry.list_name or "(every list)",
            entry.tenant or "(account)",
            entry.source,
            entry.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


@suppression.command()
@click.argument("address")
@click.option("--list", "list_name", help="The list they join again (default: every list).")
@click.option("--tenant", help="The SES tenant whose list it is (default: the account's).")
@click.pass_context
@handles_errors
def resubscribe(
    ctx: click.Context, address: str, list_name: str | None, tenant: str | None
) -> None:
    """Forget ADDRESS's unsubscribe (they asked to receive the list again)."""
    from courrier.store.unsubscribes import remove_unsubscribe

    store = open_store(ctx, settings_from(ctx).database_url)
    normalised = parse_address(address).email
    if not remove_unsubscribe(store, normalised, list_name, tenant=check_tenant_name(tenant)):
        raise click.ClickException(
            f"{normalised} was not unsubscribed from {list_name or 'every list'}"
        )
    click.echo(f"{normalised} resubscribed to {list_name or 'every list'}")
