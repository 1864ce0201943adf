"""SES v2: the REST-JSON API under ``/v2/email/``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from courrier_sandbox.ses.api.actions import V2, Reply
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.sending import (
    BulkEntry,
    Envelope,
    accepted,
    attachments_of,
    find_template,
    message_headers,
    raw_mail,
    send_bulk,
    simple_content,
    simple_mail,
    tags,
    templated_mail,
)
from courrier_sandbox.ses.service import Caller, SesService
from courrier_sandbox.ses.templates import Template, parse_data
from courrier_sandbox.ses.wire import formats as wire

operation = V2.action


def error(code: str, message: str, status: int | None = None) -> Reply:
    status = status or wire.rest_error_status("sesv2", code)
    return Reply(status, json.dumps({"message": message}).encode(), None)


def handle(
    service: SesService,
    caller: Caller,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    body: bytes,
) -> tuple[Reply, str]:
    """The reply and the error code (empty on success), for the ``x-amzn-ErrorType`` header."""
    found = wire.match_rest_route("sesv2", method, path)
    if found is None or found[0].operation.name not in V2.handlers:
        return error("UnknownOperationException", f"No operation for {method} {path}.", 404), (
            "UnknownOperationException"
        )
    route, path_params = found
    try:
        params = wire.parse_rest_input(route, path_params, query, body)
        missing = wire.missing_member(route.operation.input_shape, params)
        if missing:
            return error("BadRequestException", f"Missing required parameter {missing}."), (
                "BadRequestException"
            )
        result, after = V2.run(route.operation.name, service, caller, params)
    except wire.InvalidValue as invalid:
        return error("BadRequestException", str(invalid)), "BadRequestException"
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # Malformed JSON or values of the wrong type: refused, never a crash.
        return error("BadRequestException", f"Invalid request: {exc}"), "BadRequestException"
    except SesFault as fault:
        code = V2.code(fault)
        return error(code, fault.message), code
    payload = wire.rest_output(route.operation, result)
    return Reply(200, json.dumps(payload).encode(), after), ""


# ------------------------------------------------------------------- templates


def _v2_template(p: dict[str, Any]) -> Template:
    content = p["TemplateContent"]
    return Template(
        name=p["TemplateName"],
        subject=content.get("Subject", ""),
        text=content.get("Text"),
        html=content.get("Html"),
    )


@operation("CreateEmailTemplate")
def _create_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_template(caller, _v2_template(p), create=True)
    return {}


@operation("UpdateEmailTemplate")
def _update_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_template(caller, _v2_template(p), create=False)
    return {}


@operation("GetEmailTemplate")
def _get_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found = svc.template(caller, p["TemplateName"])
    return {
        "TemplateName": found.name,
        "TemplateContent": {"Subject": found.subject, "Text": found.text, "Html": found.html},
        "Tags": [],
    }


@operation("DeleteEmailTemplate")
def _delete_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_template(caller, p["TemplateName"], missing_ok=False)
    return {}


@operation("ListEmailTemplates")
def _list_templates(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found, token = V2.page(
        p,
        svc.templates(caller),
        lambda t: t.name,
        "ListEmailTemplates",
        token_fault="InvalidParameter",
    )
    return {
        "TemplatesMetadata": [
            {"TemplateName": t.name, "CreatedTimestamp": t.created} for t in found
        ],
        "NextToken": token,
    }


# --------------------------------------------------------------------- sending


def _v2_envelope(
    svc: SesService, caller: Caller, p: dict[str, Any], destination: Any, tag_key: str
) -> Envelope:
    """The envelope with what only v2 names: list management and tracking overrides."""
    return dataclasses.replace(
        V2.envelope(p, destination, tag_key),
        list_management=svc.list_management(caller, p.get("ListManagementOptions")),
        tracking_overrides=dict((p.get("ConfigurationOverrides") or {}).get("Tracking") or {}),
        tenant=p.get("TenantName"),
    )


@operation("SendEmail")
def _send_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    envelope = _v2_envelope(svc, caller, p, p.get("Destination"), "EmailTags")
    content = p.get("Content", {})
    if "Raw" in content:
        mail = raw_mail(envelope, content["Raw"]["Data"], "SendEmail")
    elif "Simple" in content:
        simple = content["Simple"]
        mail = simple_mail(
            envelope, headers=message_headers(simple.get("Headers")), **simple_content(simple)
        )
    elif "Template" in content:
        given = content["Template"]
        template = find_template(svc, caller, given, inline_key="TemplateContent")
        data = parse_data(given.get("TemplateData"))
        headers = message_headers(given.get("Headers"))
        stored = given.get("TemplateContent") is None
        mail = templated_mail(
            envelope,
            template,
            data,
            "SendEmail",
            headers or None,
            stored=stored,
            attachments=attachments_of(given.get("Attachments")),
        )
    else:
        raise SesFault("InvalidParameter", "Content must contain Simple, Raw or Template.")
    return accepted(svc.send(caller, mail))


@operation("SendBulkEmail")
def _send_bulk(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    defaults = _v2_envelope(svc, caller, p, None, "DefaultEmailTags")
    given = p["DefaultContent"].get("Template")
    if given is None:
        raise SesFault("InvalidParameter", "DefaultContent must contain a Template.")
    template = find_template(svc, caller, given, inline_key="TemplateContent")
    entries = [
        BulkEntry(
            defaults.for_entry(e["Destination"], tags(e.get("ReplacementTags"))),
            e.get("ReplacementEmailContent", {})
            .get("ReplacementTemplate", {})
            .get("ReplacementTemplateData"),
            message_headers(e.get("ReplacementHeaders")),
        )
        for e in p["BulkEmailEntries"]
    ]
    return send_bulk(
        svc,
        caller,
        api="v2",
        defaults=defaults,
        template=template,
        default_data=given.get("TemplateData"),
        entries=entries,
        operation="SendBulkEmail",
        default_headers=message_headers(given.get("Headers")),
        stored_template=given.get("TemplateContent") is None,
        attachments=attachments_of(given.get("Attachments")),
    )
