"""``courrier template``: SES templates kept as files, pushed, listed and rendered by SES."""

from __future__ import annotations

import json
from pathlib import Path

import click

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.cli.common import handles_errors, settings_from
from courrier.errors import InvalidMessage
from courrier.sending.templated import push_templates
from courrier.template_message import check_template_name, template_data


def _ses(ctx: click.Context) -> SesClient:
    settings = settings_from(ctx)
    return SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))


@click.group()
def template() -> None:
    """Manage SES templates from files: push, list, render.

    A template is a directory named after it, with subject.txt (one line), text.txt and/or
    html.html, in SES's Handlebars ({{name}}, {{#if}}, {{#each}}).
    """


@template.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
@handles_errors
def push(ctx: click.Context, directory: Path) -> None:
    """Create or update the template in DIRECTORY, or one per subdirectory.

    Pushing the same files again changes nothing (each line says created, updated or
    unchanged).
    """
    for name, outcome in push_templates(_ses(ctx), directory):
        click.echo(f"{outcome} {name}")


@template.command("list")
@click.pass_context
@handles_errors
def list_(ctx: click.Context) -> None:
    """The templates of the region, one name per line."""
    for name in sorted(_ses(ctx).template_names()):
        click.echo(name)


@template.command()
@click.argument("name")
@click.option("--data", default="{}", show_default=True, help="Template data, a JSON object.")
@click.pass_context
@handles_errors
def render(ctx: click.Context, name: str, data: str) -> None:
    """Print the message SES renders from template NAME with --data (TestRenderEmailTemplate)."""
    check_template_name(name)
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as err:
        raise InvalidMessage(f"--data is not JSON: {err}") from err
    click.echo(_ses(ctx).render_template(name, template_data(parsed)))
