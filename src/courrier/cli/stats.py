"""``courrier stats``: the rates as SES counts them, per day and over the window."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import closing

import click
from rich.console import Console
from rich.table import Table

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import AccountView, SesClient, TenantReputation
from courrier.cli.common import command_store, handles_errors, settings_from
from courrier.errors import CourrierError, InvalidMessage
from courrier.message import check_tenant_name
from courrier.reputation import Report, report
from courrier.settings import Settings
from courrier.store import Store

COLUMNS = (
    ("messages", "messages"),
    ("recipients", "recipients"),
    ("delivered", "delivered"),
    ("hard_bounces", "hard bounces"),
    ("soft_bounces", "soft bounces"),
    ("complaints", "complaints"),
    ("rejects", "rejects"),
    ("suppressed_at_send", "suppressed at send"),
)
RATES = (("bounce_rate", "bounce rate"), ("complaint_rate", "complaint rate"))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def account_view(settings: Settings) -> tuple[AccountView | None, str | None]:
    """SES's own view, or why it could not be read (stats are still worth showing)."""
    try:
        ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        return ses.account(), None
    except CourrierError as err:
        return None, str(err)


def _print(
    console: Console,
    result: Report,
    view: AccountView | None,
    error: str | None,
    *,
    tenant: str | None = None,
) -> None:
    whose = f"Tenant {tenant}: s" if tenant else "S"
    table = Table(title=f"{whose}ending, per UTC day and over the representative window")
    table.add_column("period")
    for _, title in COLUMNS + RATES:
        table.add_column(title, justify="right")
    rows = [(day, figures) for day, figures in result.days.items()]
    rows.append((f"window since {result.window.since:%Y-%m-%d %H:%M}", result.window.figures))
    for label, figures in rows:
        counts = figures.counts.as_dict()
        table.add_row(
            label,
            *[str(counts[name]) for name, _ in COLUMNS],
            percent(figures.bounce_rate),
            percent(figures.complaint_rate),
        )
    console.print(table)
    lines = Table(title="The window's rates against the lines, as SES counts them")
    for title in ("rate", "now", "level", "guard warning", "guard trip", "AWS review", "AWS pause"):
        lines.add_column(title, justify="right" if title != "rate" else "left")
    thresholds = result.thresholds()
    for rate, title in RATES:
        value = getattr(result.window.figures, rate)
        lines.add_row(
            title,
            percent(value),
            result.level(rate),
            *[
                percent(thresholds[line][rate])
                for line in ("guard_warning", "guard_trip", "aws_review", "aws_pause")
            ],
        )
    console.print(lines)
    window = result.window.figures.counts
    console.print(
        f"counted: {window.counted_recipients} recipients ({window.simulator} simulator, "
        f"{window.account_suppressed} on the account list, {window.rejects} rejected and "
        f"{window.rendering_failures} not rendered left out); complaint base "
        f"{window.complaint_recipients}; the guard judges from {result.min_volume}"
    )
    if tenant is not None:
        return
    if view is None:
        console.print(f"account: not available ({error})")
        return
    quota = view.quota
    console.print(
        f"account: EnforcementStatus {view.enforcement_status}, SendingEnabled "
        f"{str(quota.sending_enabled).lower()}, {'production' if quota.production else 'sandbox'}"
        f", sent {quota.sent_last_24_hours:g} of {quota.max_24_hour_send:g} in 24 h, "
        f"{quota.max_send_rate:g}/s"
    )


def tenant_view(settings: Settings, tenant: str) -> tuple[TenantReputation | None, str | None]:
    """SES's view of the tenant's reputation entity, or why it could not be read."""
    try:
        ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        return ses.tenant_reputation(tenant), None
    except CourrierError as err:
        return None, str(err)


def _checked_tenant(tenant: str | None) -> str | None:
    try:
        return check_tenant_name(tenant)
    except InvalidMessage as err:
        raise click.BadParameter(str(err), param_hint="--tenant") from err


@click.command()
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one per day, window, account.")
@click.option("--no-account", is_flag=True, help="Do not ask SES for its view of the account.")
@click.option(
    "--tenant",
    help="The figures of this SES tenant's messages only, with its reputation entity.",
)
@click.pass_context
@handles_errors
def stats(
    ctx: click.Context, days: int, as_json: bool, no_account: bool, tenant: str | None
) -> None:
    """Messages, outcomes and the bounce and complaint rates as SES counts them.

    Per UTC day and over the representative window, next to the guard's lines and AWS's
    review and pause lines, with SES's own view of the account (GetAccount). With
    --tenant, the same figures of one tenant's messages, and its reputation entity's
    status (GetReputationEntity) instead of the account's.

    Example:

        courrier stats --days 14 --json
    """
    settings = settings_from(ctx)
    tenant = _checked_tenant(tenant)
    with closing(command_store(settings.database_url)) as store:
        result = report(store, settings, days=days, tenant=tenant)
        left = _unsubscribes(store, days)
    if tenant is not None:
        entity, problem = (None, "not asked") if no_account else tenant_view(settings, tenant)
        if as_json:
            found = entity.as_dict() if entity else {"tenant": tenant, "error": problem}
            for line in [*result.as_lines(), {"kind": "tenant", **found}]:
                click.echo(json.dumps(line))
            return
        console = Console()
        _print(console, result, None, None, tenant=tenant)
        if entity is None:
            console.print(f"tenant {tenant} at SES: not available ({problem})")
        else:
            console.print(
                f"tenant {tenant} at SES: SendingStatus {entity.sending_status}, reputation "
                f"entity {entity.aggregate_status} (customer {entity.customer_managed_status}, "
                f"SES {entity.aws_managed_status}), impact {entity.impact or '-'}"
            )
        return
    view, error = (None, "not asked") if no_account else account_view(settings)
    if as_json:
        account = {"kind": "account", **(view.as_dict() if view else {"error": error})}
        for line in [*result.as_lines(), left, account]:
            click.echo(json.dumps(line))
        return
    _print(Console(), result, view, error)
    Console().print(
        f"unsubscribes (one-click and the page): {left['recent']} in the last {days} day(s), "
        f"{left['total']} stored (courrier suppression unsubscribes)"
    )


def _unsubscribes(store: Store, days: int) -> dict[str, object]:
    from courrier.store.unsubscribes import count_unsubscribes

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return {
        "kind": "unsubscribes",
        "total": count_unsubscribes(store),
        "recent": count_unsubscribes(store, since=since),
        "since": since.isoformat(),
    }
