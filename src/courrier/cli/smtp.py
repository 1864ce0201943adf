"""``courrier smtp-credentials``: the SES SMTP password of an IAM secret key, for a region."""

from __future__ import annotations

import json

import click

from courrier.aws.smtp import smtp_endpoint, smtp_password


@click.command("smtp-credentials")
@click.option(
    "--region",
    envvar="AWS_DEFAULT_REGION",
    required=True,
    help="The SES region the password is for (default: AWS_DEFAULT_REGION).",
)
@click.option(
    "--access-key-id",
    envvar="AWS_ACCESS_KEY_ID",
    help="Shown as the SMTP username (default: AWS_ACCESS_KEY_ID).",
)
@click.option(
    "--secret-access-key",
    envvar="AWS_SECRET_ACCESS_KEY",
    prompt=True,
    hide_input=True,
    help="The IAM secret access key (default: AWS_SECRET_ACCESS_KEY, else asked for).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
def smtp_credentials(
    region: str, access_key_id: str | None, secret_access_key: str, as_json: bool
) -> None:
    """Derive the SES SMTP password of an IAM secret access key for a region.

    SMTP applications (Django's SMTP backend, Postfix, mail plugins) log in to SES with the
    access key id as the username and this password, which AWS derives from the secret key
    and is valid in that region only. The IAM user needs ses:SendRawEmail.

    Example:

        courrier smtp-credentials --region eu-west-1
    """
    try:
        password = smtp_password(secret_access_key, region)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    found = {
        "server": smtp_endpoint(region),
        "ports": "587 or 25 (STARTTLS), 465 (TLS)",
        "username": access_key_id or "(your access key id)",
        "password": password,
    }
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for key, value in found.items():
        click.echo(f"{key + ':':<10} {value}")
