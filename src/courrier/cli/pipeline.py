"""``courrier setup``, ``courrier doctor`` and ``courrier teardown``."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from courrier.aws.clients import AwsConfig
from courrier.cli.common import (
    EXIT_FAILED,
    CourrierClickError,
    command_store,
    handles_errors,
    settings_from,
    stop_signals,
)
from courrier.errors import ConfigurationError, CourrierError, SetupIncomplete
from courrier.provisioning import (
    Action,
    Aws,
    CheckStatus,
    DoctorReport,
    DoctorTarget,
    Route,
    config_file,
    doctor,
    setup,
    teardown,
)
from courrier.provisioning.dns_checks import Dns
from courrier.provisioning.setup import SetupReport
from courrier.settings import Settings, config_path
from courrier.store.guard import record_doctor_run

_MARK = {
    Action.CREATE: "[green]+[/green]",
    Action.UPDATE: "[yellow]~[/yellow]",
    Action.UNCHANGED: " ",
    Action.DELETE: "[red]-[/red]",
    Action.ABSENT: " ",
}
_COLOUR = {
    CheckStatus.OK: "green",
    CheckStatus.WARNING: "yellow",
    CheckStatus.FAILED: "red",
    CheckStatus.UNKNOWN: "magenta",
}


def _aws(settings: Settings) -> Aws:
    return Aws(AwsConfig(settings.profile, settings.region, settings.read_timeout))


@click.command(name="setup")
@click.option("--identity", required=True, help="Sender address or domain to verify and use.")
@click.option(
    "--route",
    type=click.Choice([str(r) for r in Route]),
    default=str(Route.EVENTS),
    show_default=True,
    help="Configuration-set event publishing, or identity notifications.",
)
@click.option(
    "--prefix",
    default="courrier",
    show_default=True,
    help="Names: PREFIX-feedback (topic, queue), PREFIX-feedback-dlq, PREFIX (set).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option(
    "--mail-from",
    metavar="SUBDOMAIN",
    help="Custom MAIL FROM domain (e.g. bounce: bounce.IDENTITY), so that SPF aligns for DMARC.",
)
@click.option(
    "--mx-failure",
    type=click.Choice(["use-default", "reject"]),
    default="use-default",
    show_default=True,
    help="When the MAIL FROM domain's MX is missing: send from amazonses.com, or refuse.",
)
@click.option(
    "--contact-list",
    metavar="NAME",
    help="SES's subscription management: create this contact list (SES allows one).",
)
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="NAME",
    help="A topic of --contact-list (repeatable; the first is bulk sends' default).",
)
@click.pass_context
@handles_errors
def setup_command(
    ctx: click.Context,
    identity: str,
    route: str,
    prefix: str,
    dry_run: bool,
    mail_from: str | None,
    mx_failure: str,
    contact_list: str | None,
    topics: tuple[str, ...],
) -> None:
    """Create or update the SES -> SNS -> SQS feedback pipeline, idempotently.

    On success the names are written to courrier.toml for the other commands (a sender
    already there is kept); when a step fails after others made resources, those are written
    too, so that courrier teardown can remove them. The DNS
    records to publish are printed: domain verification and DKIM, and with --mail-from the
    MAIL FROM domain's MX and SPF records. With --contact-list, SES's subscription
    management is set up too: the contact list and its topics, and the settings that make
    bulk sends use them.

    Example:

        courrier setup --identity mail.example.com --route events --mail-from bounce
    """
    settings = settings_from(ctx, config_may_be_absent=True)
    aws = _aws(settings)
    path = config_path(ctx.find_root().params.get("config"))
    console = Console()
    try:
        report = setup(
            aws,
            identity,
            route=route,
            prefix=prefix,
            dry_run=dry_run,
            mail_from=mail_from,
            mail_from_behavior="REJECT_MESSAGE" if mx_failure == "reject" else "USE_DEFAULT_VALUE",
            contact_list=contact_list,
            topics=topics,
        )
    except SetupIncomplete as err:
        # Recorded, so that teardown finds what was made (it reads courrier.toml).
        _remember(console, aws, path, err.settings)
        raise CourrierClickError(
            f"{err}\nThey are recorded in {path}: fix the cause and run courrier setup "
            "again, or remove them with courrier teardown --yes",
            EXIT_FAILED,
        ) from err
    _show_setup(console, report, dry_run)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    console.print(
        "no changes: everything was already in place" if not report.changed else "pipeline ready"
    )
    _remember(console, aws, path, report.settings())


def _show_setup(console: Console, report: SetupReport, dry_run: bool) -> None:
    for change in report.changes:
        detail = f" ({change.detail})" if change.detail else ""
        verb = (
            change.action
            if not dry_run or change.action is Action.UNCHANGED
            else f"would {change.action}"
        )
        console.print(f"{_MARK[change.action]} {change.resource}: {verb}{detail}")
    if report.dns_records:
        table = Table(title="DNS records to publish")
        for column in ("type", "name", "value"):
            table.add_column(column)
        for record in report.dns_records:
            table.add_row(*record)
        console.print(table)


def _remember(console: Console, aws: Aws, path: Path, settings: dict[str, str]) -> None:
    values: dict[str, str | bool | None] = {**settings}
    # A stand-in's SNS signs with certificates that AWS does not serve: the worker could not
    # check them. Against AWS, verification stays on (the default).
    values["verify_signatures"] = None if _on_aws(aws) else False
    for line in config_file.remember_setup(path, values):
        console.print(f"courrier.toml: {line}")
    console.print(f"wrote {path}")


def _target(settings: Settings) -> DoctorTarget:
    missing = [
        name for name in ("identity", "topic_arn", "queue_url") if not getattr(settings, name)
    ]
    if missing:
        raise ConfigurationError(f"no {', '.join(missing)} in the settings: run courrier setup")
    return DoctorTarget(
        identity=settings.identity or "",
        topic_arn=settings.topic_arn or "",
        queue_url=settings.queue_url or "",
        configuration_set=(
            settings.configuration_set if settings.route != Route.NOTIFICATIONS else None
        ),
        sender=settings.sender,
    )


def _on_aws(aws: Aws) -> bool:
    try:
        return aws.on_aws
    except CourrierError:
        return True  # no region or credentials: the doctor's first check says so


def _keep_doctor_run(settings: Settings, report: DoctorReport) -> None:
    """Keep the result in the store for the dashboard; a store problem does not fail doctor."""
    try:
        with closing(command_store(settings.database_url)) as store:
            record_doctor_run(store, report.worst, [c.as_dict() for c in report])
    except CourrierError as err:
        click.echo(f"doctor result not kept in the store: {err}", err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM too unwinds like Ctrl-C, so the probe removes its temporary queue.
    raise KeyboardInterrupt


@click.command(name="doctor")
@click.option("--no-probe", is_flag=True, help="Skip the end-to-end send.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the probe.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per check.")
@click.option(
    "--dns/--no-dns",
    default=None,
    help="Run or skip the DNS checks (DKIM, MAIL FROM, DMARC). Default: run them against "
    "AWS or when dns_nameservers is set, not against a stand-in such as the sandbox.",
)
@click.pass_context
@handles_errors
def doctor_command(
    ctx: click.Context, no_probe: bool, timeout: float, as_json: bool, dns: bool | None
) -> None:
    """Check every link of the pipeline and the sender's DNS, then prove it with a probe send.

    The DNS checks: the DKIM CNAMEs, the MAIL FROM domain's MX and SPF, and DMARC with its
    alignment, asked of dns_nameservers (or the system's resolvers). Each check is ok,
    warning, failed, or unknown (it could not run; the reason is given), with the record to
    publish. Exit 0: every check ok or warning; 1: a check failed; 3: none failed but some
    could not run; 2: bad settings.
    """
    settings = settings_from(ctx)
    aws = _aws(settings)
    if dns is None:
        # A stand-in's identities are in no public DNS: asked for, or on AWS itself.
        dns = bool(settings.dns_nameservers) or _on_aws(aws)
    with stop_signals(_interrupt):
        report = doctor(
            aws,
            _target(settings),
            probe=not no_probe,
            probe_timeout=timeout,
            dns=Dns(settings.dns_nameservers) if dns else None,
        )
    _keep_doctor_run(settings, report)
    if as_json:
        for check in report:
            click.echo(json.dumps(check.as_dict()))
    else:
        console = Console()
        for check in report:
            fix = (
                f"\n    fix: {check.fix}"
                if check.fix and check.status is not CheckStatus.OK
                else ""
            )
            console.print(
                f"[{_COLOUR[check.status]}]{check.status:>7}[/] {check.name}: {check.detail}{fix}"
            )
    ctx.exit(int(report.exit_code))


@click.command(name="teardown")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--delete-identity", is_flag=True, help="Also delete the SES identity.")
@click.pass_context
@handles_errors
def teardown_command(ctx: click.Context, yes: bool, delete_identity: bool) -> None:
    """Remove what setup made, in reverse order."""
    settings = settings_from(ctx)
    if not settings.identity:
        raise ConfigurationError("no identity in the settings: nothing set up here")
    prefix = settings.prefix or "courrier"
    if not yes:
        click.confirm(f"Delete the {prefix} feedback pipeline of {settings.identity}?", abort=True)
    changes = teardown(
        _aws(settings),
        settings.identity,
        route=settings.route or Route.EVENTS,
        prefix=prefix,
        delete_identity=delete_identity,
        config=config_path(ctx.find_root().params.get("config")),
        contact_list=settings.unsubscribe_contact_list,
    )
    console = Console()
    for change in changes:
        console.print(f"{_MARK[change.action]} {change.resource}: {change.action}")
