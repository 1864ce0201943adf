"""``courrier guard status|reset``: the reputation guard."""

from __future__ import annotations

import json

import click
from rich.console import Console

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.cli.common import handles_errors, open_store, settings_from
from courrier.cli.stats import RATES, _checked_tenant, percent
from courrier.reputation import Guard
from courrier.settings import Settings
from courrier.statuses import GuardLevel
from courrier.store.guard import trips


def _guard(ctx: click.Context, settings: Settings) -> Guard:
    ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
    return Guard(open_store(ctx, settings.database_url), settings, account=ses.account)


@click.group()
def guard() -> None:
    """Show or clear the reputation guard, which refuses bulk sends once tripped."""


_TENANT_HELP = "The guard of this SES tenant, judged on its own messages."


@guard.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--tenant", help=_TENANT_HELP)
@click.pass_context
@handles_errors
def status(ctx: click.Context, as_json: bool, tenant: str | None) -> None:
    """The guard's state, the rates it judges, SES's view and the latest trips.

    With --tenant, the tenant's own guard and figures. Exits 1 while the guard is tripped.
    """
    settings = settings_from(ctx)
    tenant = _checked_tenant(tenant)
    the_guard = _guard(ctx, settings)
    try:
        current = the_guard.status(tenant=tenant)
        history = trips(the_guard.store, limit=10, tenant=tenant)
    finally:
        the_guard.store.close()
    window = current.report.window.figures
    if as_json:
        click.echo(json.dumps(current.as_dict(history)))
    else:
        console = Console()
        colour = {
            GuardLevel.TRIPPED: "red",
            GuardLevel.OVER: "red",
            GuardLevel.WARNING: "yellow",
        }.get(current.state, "green")
        whose = f"tenant {tenant} " if tenant else ""
        option = f" --tenant {tenant}" if tenant else ""
        console.print(f"{whose}guard: [{colour}]{current.state}[/]")
        if current.trip is not None:
            console.print(
                f"  tripped {current.trip.tripped_at:%Y-%m-%d %H:%M} UTC: {current.trip.detail}"
            )
            console.print(
                f"  {whose}bulk sends are refused; clear with `courrier guard reset{option}`"
            )
        thresholds = current.report.thresholds()
        for rate, title in RATES:
            console.print(
                f"  {title}: {percent(getattr(window, rate))} ({current.report.level(rate)}; "
                f"warning {percent(thresholds['guard_warning'][rate])}, "
                f"trip {percent(thresholds['guard_trip'][rate])})"
            )
        if current.account is not None:
            console.print(
                f"  SES: EnforcementStatus {current.account.enforcement_status}, "
                f"SendingEnabled {str(current.account.quota.sending_enabled).lower()}"
            )
        else:
            console.print(f"  SES: not available ({current.account_error})")
        for trip in history:
            reset = f", reset {trip.reset_at:%Y-%m-%d %H:%M}" if trip.reset_at else ", open"
            console.print(
                f"  trip {trip.id}: {trip.tripped_at:%Y-%m-%d %H:%M} {trip.detail}{reset}"
            )
    if current.trip is not None:
        ctx.exit(1)


@guard.command()
@click.option("--note", help="Why it is safe to send again; kept with the trip.")
@click.option("--tenant", help=_TENANT_HELP)
@click.pass_context
@handles_errors
def reset(ctx: click.Context, note: str | None, tenant: str | None) -> None:
    """Clear the guard so that bulk sends go out again (with --tenant, that tenant's).

    If the rates are still over the line, the next bounce or complaint trips it again.
    """
    settings = settings_from(ctx)
    tenant = _checked_tenant(tenant)
    the_guard = _guard(ctx, settings)
    try:
        closed = the_guard.reset(note, tenant=tenant)
        report = the_guard.status(tenant=tenant).report
    finally:
        the_guard.store.close()
    if closed is None:
        click.echo("the guard was not tripped")
        return
    click.echo(f"guard reset (trip {closed.id}: {closed.detail})")
    still = [title for rate, title in RATES if report.level(rate) is GuardLevel.OVER]
    if still:
        click.echo(
            f"warning: the {' and '.join(still)} {'is' if len(still) == 1 else 'are'} still over "
            "the guard's line; the next bounce or complaint trips it again",
            err=True,
        )
