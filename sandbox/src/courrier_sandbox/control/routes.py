"""The sandbox's own routes under ``/_courrier/``: what a test or a person asks of the sandbox
(the mailbox, the account, throttles, verification, reset, drain) beside the AWS APIs."""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from courrier_sandbox.accounts import DEFAULT_REGION, account_for
from courrier_sandbox.control.pages import control_page, json_response
from courrier_sandbox.ses.service import Caller
from courrier_sandbox.sns_sqs import hooks as moto_hooks

if TYPE_CHECKING:
    from courrier_sandbox.server import SandboxApp


def route(app: SandboxApp, request: Request) -> Response:
    """The answer to one ``/_courrier/...`` request."""
    path = request.path.removeprefix("/_courrier")
    if path == "/health":
        return json_response({"status": "ok", "services": ["ses", "sesv2", "sns", "sqs"]})
    if path == "/mailbox" and request.method == "GET":
        letters = app.mailbox.letters(request.args.get("recipient"), request.args.get("kind"))
        return json_response({"messages": [letter.summary() for letter in letters]})
    if path == "/mailbox" and request.method == "DELETE":
        app.mailbox.clear()
        return json_response({"cleared": True})
    found = re.fullmatch(r"/mailbox/(\d+)", path)
    if found:
        letter = app.mailbox.get(int(found.group(1)))
        if letter is None:
            return json_response({"message": "no such message"}, 404)
        return json_response(letter.full())
    found = re.fullmatch(r"/identities/([^/]+)/verify", path)
    if found and request.method == "POST":
        name = urllib.parse.unquote(found.group(1))
        account, region = scope(request)
        if not app.ses.mark_verified(account, region, name):
            return json_response({"message": f"no identity {name} in {region}"}, 404)
        return json_response({"identity": name, "status": "Success"})
    if path == "/account" and request.method == "POST":
        return _account(app, request)
    if path == "/throttles" and request.method == "GET":
        account, region = scope(request)
        state = app.ses.existing_state(account, region)
        return json_response(
            {
                "account": account,
                "region": region,
                "throttles": state.throttled if state else 0,
                "bulk_calls": state.bulk_calls if state else 0,
            }
        )
    found = re.fullmatch(r"/tenants/([^/]+)", path)
    if found and request.method == "GET":
        name = urllib.parse.unquote(found.group(1))
        account, region = scope(request)
        figures = app.ses.tenant_figures(account, region, name)
        if figures is None:
            return json_response({"message": f"no tenant {name} in {region}"}, 404)
        return json_response(figures)
    if path == "/events" and request.method == "GET":
        events = app.events.list(request.args.get("kind"), request.args.get("message_id"))
        return json_response({"events": [event.to_json() for event in events]})
    if path == "/events" and request.method == "DELETE":
        app.events.clear()
        return json_response({"cleared": True})
    if path == "/sns-deliveries":
        return json_response({"dropped": [d.__dict__ for d in moto_hooks.dropped_deliveries]})
    if path == "/drain" and request.method == "POST":
        try:
            timeout = float(request.args.get("timeout", "10"))
        except ValueError:
            timeout = math.nan
        if not 0 <= timeout <= 300:
            return json_response({"message": "timeout must be a number of seconds, 0 to 300"}, 400)
        return json_response({"drained": app.ses.scheduler.drain(timeout)})
    if path == "/reset" and request.method == "POST":
        app.reset()
        return json_response({"reset": True})
    page = control_page(app.ses, request, path, scope)
    if page is not None:
        return page
    return json_response({"message": f"no such page: {request.path}"}, 404)


def _account(app: SandboxApp, request: Request) -> Response:
    """Change what AWS support would: quota, rate, production access, enforcement status."""
    try:
        changes = _account_changes(json.loads(request.get_data() or b"null"))
    except (ValueError, RecursionError) as err:
        return json_response({"message": str(err)}, 400)
    account, region = scope(request)
    caller = Caller(account=account, region=region, api="v2")
    app.ses.update_account(caller, **changes)
    state, sent = app.ses.account(caller)
    return json_response({**state.__dict__, "sent_last_24_hours": sent})


def _account_changes(body: Any) -> dict[str, Any]:
    """The account fields of a ``/_courrier/account`` body, checked: only real JSON types."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(
        set(body)
        - {
            "max_send_rate",
            "max_send_burst",
            "max_24_hour_send",
            "production",
            "sending_enabled",
            "enforcement_status",
        }
    )
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key == "enforcement_status":
            # GetAccount's EnforcementStatus (docs/ses.md#limits).
            if value not in ("HEALTHY", "PROBATION", "SHUTDOWN"):
                raise ValueError("enforcement_status: HEALTHY, PROBATION or SHUTDOWN")
            changes[key] = value
            continue
        if key in ("production", "sending_enabled"):
            # "false" is a string, and a non-empty string is true: only JSON booleans.
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            changes[key] = value
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{key} must be a number")
        if key == "max_24_hour_send" and value < 0 and value != -1:
            raise ValueError("max_24_hour_send must be -1 (unlimited) or at least 0")
        if key != "max_24_hour_send" and value <= 0:
            raise ValueError(f"{key} must be more than 0")
        changes[key] = float(value)
    return changes


def scope(request: Request) -> tuple[str, str]:
    """The (account, region) a control page is about: ``?account=&region=``, else defaults."""
    return request.args.get("account", account_for("")), request.args.get("region", DEFAULT_REGION)
