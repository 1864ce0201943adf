"""``courrier tenant create|list|show|delete``: SES tenants (courrier.provisioning.tenants)."""

from __future__ import annotations

import json

import click
from rich.console import Console

from courrier.cli.common import handles_errors, settings_from
from courrier.cli.pipeline import _MARK, _aws
from courrier.provisioning import Aws
from courrier.provisioning.tenants import (
    create_tenant,
    delete_tenant,
    list_tenants,
    show_tenant,
    tenant_suppression,
)


@click.group()
def tenant() -> None:
    """Create, list, show and delete SES tenants with the resources their sends use."""


@tenant.command()
@click.argument("name")
@click.option(
    "--template",
    "templates",
    multiple=True,
    help="Associate this template (repeatable). Default: every template of the region.",
)
@click.option("--no-templates", is_flag=True, help="Associate no template.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per change.")
@click.pass_context
@handles_errors
def create(
    ctx: click.Context, name: str, templates: tuple[str, ...], no_templates: bool, as_json: bool
) -> None:
    """Create the tenant NAME, associated with the configured identity, configuration set
    and templates; idempotent (a second run changes nothing).

    Its suppression attributes come from tenant_suppression_scope and
    tenant_suppressed_reasons when set.
    """
    settings = settings_from(ctx)
    aws = _aws(settings)
    suppression = tenant_suppression(
        settings.tenant_suppression_scope, settings.tenant_suppressed_reasons
    )
    if no_templates:
        chosen: list[str] = []
    elif templates:
        chosen = list(templates)
    else:
        chosen = _every_template(aws)
    changes = create_tenant(
        aws,
        name,
        identity=settings.identity or settings.sender,
        configuration_set=settings.configuration_set,
        templates=chosen,
        prefix=settings.prefix or "courrier",
        suppression=suppression,
    )
    console = Console()
    for change in changes:
        if as_json:
            click.echo(json.dumps(change.as_dict()))
        else:
            console.print(f"{_MARK[change.action]} {change.resource}: {change.action}")


def _every_template(aws: Aws) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, object] = {"PageSize": 100}
        if token:
            params["NextToken"] = token
        page = aws.call("sesv2", "ListEmailTemplates", **params)
        names.extend(str(t["TemplateName"]) for t in page.get("TemplatesMetadata", []))
        token = page.get("NextToken")
        if not token:
            return names


@tenant.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tenant.")
@click.pass_context
@handles_errors
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Every tenant of the region, with its sending status."""
    for view in list_tenants(_aws(settings_from(ctx))):
        if as_json:
            click.echo(json.dumps(view.as_dict()))
        else:
            click.echo(f"{view.name}\t{view.sending_status}")


@tenant.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@handles_errors
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """The tenant NAME: status, tags, associated resources, suppression. Exits 1 when absent."""
    view = show_tenant(_aws(settings_from(ctx)), name)
    if view is None:
        click.echo(f"no tenant {name}", err=True)
        ctx.exit(1)
    if as_json:
        click.echo(json.dumps(view.as_dict()))
        return
    click.echo(f"{view.name}: {view.sending_status}")
    click.echo(f"  arn: {view.arn}")
    for kind, arn in view.resources:
        click.echo(f"  {kind}: {arn}")
    if view.suppression:
        click.echo(f"  suppression: {json.dumps(view.suppression)}")


@tenant.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@handles_errors
def delete(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete the tenant NAME (its resources stay; only their association goes)."""
    if not yes:
        click.confirm(f"Delete the tenant {name}?", abort=True)
    change = delete_tenant(_aws(settings_from(ctx)), name)
    click.echo(f"tenant {name}: {change.action}")
