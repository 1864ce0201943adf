"""``courrier dashboard``: the web dashboard over the store."""

from __future__ import annotations

import click

from courrier.cli.common import PORT, command_store, handles_errors, listen_host, settings_from
from courrier.extras import needs_extra


@click.command()
@listen_host
@click.option("--port", default=8025, show_default=True, type=PORT)
@click.option(
    "--token",
    help="Required on every page (setting dashboard_token, or COURRIER_DASHBOARD_TOKEN, "
    "which keeps it out of the process list); mandatory off loopback.",
)
@click.pass_context
@handles_errors
def dashboard(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the dashboard: rates and the guard, messages, suppressions, the SES account.

    It listens on 127.0.0.1 unless told otherwise; any other address needs a token and
    refuses to start without one. Without a token it answers only to the names 127.0.0.1,
    localhost and [::1] (any other Host gets 421), so a web page cannot reach it by pointing
    its own name at 127.0.0.1 (DNS rebinding); to open it under another name, give it a
    token. Every change is a POST with a CSRF token.

    Example:

        COURRIER_DASHBOARD_TOKEN=$(openssl rand -hex 16) courrier dashboard --host 0.0.0.0
    """
    settings = settings_from(ctx, dashboard_token=token)
    with needs_extra("dashboard", "courrier dashboard"):
        import uvicorn

        from courrier.web import check_binding, make_app
    check_binding(host, settings.dashboard_token)
    app = make_app(command_store(settings.database_url), settings, token=settings.dashboard_token)
    click.echo(f"courrier dashboard on http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
