"""SES v1: the query/XML API (``Action=SendEmail&Version=2010-12-01``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationNotFoundError

from courrier_sandbox.ses.api.actions import V1, Reply
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.sending import (
    BulkEntry,
    accepted,
    find_template,
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

action = V1.action

#: Enum refusals a v1 action words as its own InvalidParameterValue instead of the generic
#: ValidationError (recorded against AWS, 2025).
OWN_ENUM_ANSWERS = {
    ("SetIdentityHeadersInNotificationsEnabled", "notificationType"): (
        "Invalid notification type: {value}. Valid values are: Bounce, Complaint, Delivery."
    ),
}


def handle(service: SesService, caller: Caller, params: Mapping[str, str]) -> Reply:
    request_id = str(uuid.uuid4())
    name = params.get("Action", "")
    handler = V1.handlers.get(name)
    model = wire.service_model("ses")
    try:
        operation = model.operation_model(name)
    except OperationNotFoundError:
        operation = None
    if handler is None or operation is None:
        return Reply(
            400,
            wire.query_error(
                "InvalidAction", f"The action {name} is not valid for this web service.", request_id
            ),
        )
    try:
        decoded = wire.parse_query(operation.input_shape, params)
        missing = wire.missing_member(operation.input_shape, decoded)
        if missing:
            raise SesFault("MissingParameter", f"The request must contain the parameter {missing}.")
        result, after = V1.run(name, service, caller, decoded)
    except wire.InvalidEnum as err:
        own = OWN_ENUM_ANSWERS.get((name, err.member))
        if own is not None:
            message = own.format(value=err.value)
            return Reply(400, wire.query_error("InvalidParameterValue", message, request_id))
        return Reply(400, wire.query_error("ValidationError", str(err), request_id))
    except (ValueError, TypeError) as err:
        # Malformed values (a number that is not one, bad base64): refused, never a crash.
        return Reply(400, wire.query_error("InvalidParameterValue", str(err), request_id))
    except SesFault as fault:
        return Reply(400, wire.query_error(V1.code(fault), fault.message, request_id))
    return Reply(200, wire.query_response(operation, result, request_id), after)


# ------------------------------------------------------------------- templates


def _v1_template(given: dict[str, Any]) -> Template:
    return Template(
        name=given["TemplateName"],
        subject=given.get("SubjectPart", ""),
        text=given.get("TextPart"),
        html=given.get("HtmlPart"),
    )


@action("CreateTemplate")
def _create_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_template(caller, _v1_template(p["Template"]), create=True)
    return {}


@action("UpdateTemplate")
def _update_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_template(caller, _v1_template(p["Template"]), create=False)
    return {}


@action("GetTemplate")
def _get_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found = svc.template(caller, p["TemplateName"])
    return {
        "Template": {
            "TemplateName": found.name,
            "SubjectPart": found.subject,
            "TextPart": found.text,
            "HtmlPart": found.html,
        }
    }


@action("DeleteTemplate")
def _delete_template(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_template(caller, p["TemplateName"], missing_ok=True)
    return {}


@action("ListTemplates")
def _list_templates(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found, token = V1.page(p, svc.templates(caller), lambda t: t.name, "ListTemplates")
    return {
        "TemplatesMetadata": [{"Name": t.name, "CreatedTimestamp": t.created} for t in found],
        "NextToken": token,
    }


# --------------------------------------------------------------------- sending


@action("SendEmail")
def _send_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    mail = simple_mail(V1.envelope(p, p["Destination"], "Tags"), **simple_content(p["Message"]))
    return accepted(svc.send(caller, mail))


@action("SendRawEmail")
def _send_raw_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    envelope = V1.envelope(p, {"ToAddresses": p.get("Destinations", [])}, "Tags")
    mail = raw_mail(envelope, p["RawMessage"]["Data"], "SendRawEmail")
    return accepted(svc.send(caller, mail))


@action("SendTemplatedEmail")
def _send_templated(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    template = find_template(svc, caller, {"TemplateName": p.get("Template"), **p})
    data = parse_data(p["TemplateData"])
    mail = templated_mail(
        V1.envelope(p, p["Destination"], "Tags"), template, data, "SendTemplatedEmail"
    )
    return accepted(svc.send(caller, mail))


@action("SendBulkTemplatedEmail")
def _send_bulk(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    defaults = V1.envelope(p, None, "DefaultTags")
    template = find_template(svc, caller, {"TemplateName": p.get("Template"), **p})
    entries = [
        BulkEntry(
            defaults.for_entry(d["Destination"], tags(d.get("ReplacementTags"))),
            d.get("ReplacementTemplateData"),
        )
        for d in p["Destinations"]
    ]
    return send_bulk(
        svc,
        caller,
        api="v1",
        defaults=defaults,
        template=template,
        default_data=p.get("DefaultTemplateData"),
        entries=entries,
        operation="SendBulkTemplatedEmail",
    )
