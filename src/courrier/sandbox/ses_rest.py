"""SES v2: the REST-JSON API under ``/v2/email/``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from courrier.sandbox import wire
from courrier.sandbox.faults import SesFault
from courrier.sandbox.ses_actions import V2, Reply
from courrier.sandbox.ses_sending import (
    BulkEntry,
    accepted,
    find_template,
    raw_mail,
    send_bulk,
    simple_mail,
    tags,
    templated_mail,
)
from courrier.sandbox.ses_service import Caller, SesService
from courrier.sandbox.ses_state import EVENT_TYPES, EventDestination, Identity
from courrier.sandbox.templates import Template, parse_data

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
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # Malformed JSON or values of the wrong type: refused, never a crash.
        return error("BadRequestException", f"Invalid request: {exc}"), "BadRequestException"
    except SesFault as fault:
        code = V2.code(fault)
        return error(code, fault.message), code
    payload = wire.rest_output(route.operation, result)
    return Reply(200, json.dumps(payload).encode(), after), ""


# ---------------------------------------------------------------- identities


def _identity_type(identity: Identity) -> str:
    return "EMAIL_ADDRESS" if identity.kind == "EmailAddress" else "DOMAIN"


def _dkim(identity: Identity) -> dict[str, Any]:
    if identity.kind != "Domain":
        return {"SigningEnabled": False, "Status": "NOT_STARTED", "Tokens": []}
    return {
        "SigningEnabled": identity.dkim_enabled,
        "Status": identity.status.upper(),
        "Tokens": identity.dkim_tokens,
        "SigningAttributesOrigin": "AWS_SES",
        "CurrentSigningKeyLength": "RSA_2048_BIT",
    }


@operation("CreateEmailIdentity")
def _create_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.create_identity(caller, p["EmailIdentity"])
    return {
        "IdentityType": _identity_type(identity),
        "VerifiedForSendingStatus": identity.verified,
        "DkimAttributes": _dkim(identity),
    }


@operation("GetEmailIdentity")
def _get_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.identity(caller, p["EmailIdentity"])
    return {
        "IdentityType": _identity_type(identity),
        "FeedbackForwardingStatus": identity.forwarding_enabled,
        "VerifiedForSendingStatus": identity.verified,
        "VerificationStatus": identity.status.upper(),
        "DkimAttributes": _dkim(identity),
        "Policies": {},
        "Tags": [],
    }


@operation("ListEmailIdentities")
def _list_identities(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found, token = V2.page(
        p,
        svc.identities(caller),
        lambda i: i.name,
        "ListEmailIdentities",
        token_fault="InvalidParameter",
    )
    return {
        "EmailIdentities": [
            {
                "IdentityType": _identity_type(i),
                "IdentityName": i.name,
                "SendingEnabled": i.verified,
                "VerificationStatus": i.status.upper(),
            }
            for i in found
        ],
        "NextToken": token,
    }


@operation("DeleteEmailIdentity")
def _delete_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.identity(caller, p["EmailIdentity"])
    svc.delete_identity(caller, p["EmailIdentity"])
    return {}


@operation("PutEmailIdentityFeedbackAttributes")
def _feedback_attributes(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_forwarding(caller, p["EmailIdentity"], p.get("EmailForwardingEnabled", False))
    return {}


# ---------------------------------------------------------------- configuration sets


@operation("CreateConfigurationSet")
def _create_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.create_configuration_set(caller, p["ConfigurationSetName"])
    sending = p.get("SendingOptions")
    if sending is not None:
        svc.set_configuration_set_sending(
            caller, p["ConfigurationSetName"], sending.get("SendingEnabled", True)
        )
    return {}


@operation("GetConfigurationSet")
def _get_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    config = svc.configuration_set(caller, p["ConfigurationSetName"])
    return {
        "ConfigurationSetName": config.name,
        "SendingOptions": {"SendingEnabled": config.sending_enabled},
        "Tags": [],
    }


@operation("ListConfigurationSets")
def _list_sets(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    with svc.lock:
        names = list(svc.state(caller).configuration_sets)
    found, token = V2.page(p, names, str, "ListConfigurationSets", token_fault="InvalidParameter")
    return {"ConfigurationSets": found, "NextToken": token}


@operation("PutConfigurationSetSendingOptions")
def _set_sending(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_configuration_set_sending(
        caller, p["ConfigurationSetName"], p.get("SendingEnabled", False)
    )
    return {}


def _destination(name: str, given: dict[str, Any]) -> EventDestination:
    types = given.get("MatchingEventTypes", [])
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise SesFault("InvalidParameter", f"Invalid event type {unknown[0]}.")
    return EventDestination(
        name=name,
        enabled=given.get("Enabled", False),
        matching_types=list(types),
        sns_topic_arn=given.get("SnsDestination", {}).get("TopicArn"),
    )


@operation("CreateConfigurationSetEventDestination")
def _create_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination(p["EventDestinationName"], p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=True)
    return {}


@operation("UpdateConfigurationSetEventDestination")
def _update_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination(p["EventDestinationName"], p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=False)
    return {}


@operation("GetConfigurationSetEventDestinations")
def _destinations(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    config = svc.configuration_set(caller, p["ConfigurationSetName"])
    out = []
    for d in config.destinations.values():
        item: dict[str, Any] = {
            "Name": d.name,
            "Enabled": d.enabled,
            "MatchingEventTypes": d.matching_types,
        }
        if d.sns_topic_arn:
            item["SnsDestination"] = {"TopicArn": d.sns_topic_arn}
        out.append(item)
    return {"EventDestinations": out}


# ---------------------------------------------------------------- account, suppression


@operation("GetAccount")
def _get_account(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    account, sent = svc.account(caller)
    return {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": account.enforcement_status,
        "ProductionAccessEnabled": account.production,
        "SendingEnabled": account.sending_enabled,
        "SendQuota": {
            "Max24HourSend": account.max_24_hour_send,
            "MaxSendRate": account.max_send_rate,
            "SentLast24Hours": sent,
        },
        "SuppressionAttributes": {"SuppressedReasons": account.suppressed_reasons},
    }


@operation("PutAccountSendingAttributes")
def _account_sending(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.update_account(caller, sending_enabled=p.get("SendingEnabled", False))
    return {}


@operation("PutAccountSuppressionAttributes")
def _account_suppression(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.update_account(caller, suppressed_reasons=list(p.get("SuppressedReasons", [])))
    return {}


@operation("PutSuppressedDestination")
def _put_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    if not svc.account(caller)[0].production:
        # Not allowed while the account is in the SES sandbox (facts §3.1).
        raise SesFault(
            "NotAllowedInSandbox",
            "PutSuppressedDestination is not allowed while your account is in the "
            "Amazon SES sandbox.",
        )
    svc.put_suppressed(caller, p["EmailAddress"], p["Reason"])
    return {}


@operation("GetSuppressedDestination")
def _get_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    entry = svc.suppressed(caller, p["EmailAddress"])
    attributes = {
        k: v for k, v in (("MessageId", entry.message_id), ("FeedbackId", entry.feedback_id)) if v
    }
    return {
        "SuppressedDestination": {
            "EmailAddress": entry.email,
            "Reason": entry.reason,
            "LastUpdateTime": entry.last_update,
            "Attributes": attributes or None,
        }
    }


@operation("ListSuppressedDestinations")
def _list_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    entries = svc.suppressed_list(caller, p.get("Reasons"))
    start, end = p.get("StartDate"), p.get("EndDate")
    entries = [
        e
        for e in entries
        if (start is None or e.last_update >= start.timestamp())
        and (end is None or e.last_update <= end.timestamp())
    ]
    found, token = V2.page(
        p, entries, lambda e: e.email, "ListSuppressedDestinations", token_fault="InvalidNextToken"
    )
    return {
        "SuppressedDestinationSummaries": [
            {"EmailAddress": e.email, "Reason": e.reason, "LastUpdateTime": e.last_update}
            for e in found
        ],
        "NextToken": token,
    }


@operation("DeleteSuppressedDestination")
def _delete_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_suppressed(caller, p["EmailAddress"])
    return {}


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


@operation("SendEmail")
def _send_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    envelope = V2.envelope(p, p.get("Destination"), "EmailTags")
    content = p.get("Content", {})
    if "Raw" in content:
        mail = raw_mail(envelope, content["Raw"]["Data"], "SendEmail")
    elif "Simple" in content:
        simple = content["Simple"]
        body = simple.get("Body", {})
        mail = simple_mail(
            envelope,
            subject=simple.get("Subject", {}).get("Data", ""),
            text=body.get("Text", {}).get("Data"),
            html=body.get("Html", {}).get("Data"),
            headers=[(h["Name"], h["Value"]) for h in simple.get("Headers", [])],
        )
    elif "Template" in content:
        given = content["Template"]
        template = find_template(svc, caller, given, inline_key="TemplateContent")
        data = parse_data(given.get("TemplateData"))
        mail = templated_mail(envelope, template, data, "SendEmail")
    else:
        raise SesFault("InvalidParameter", "Content must contain Simple, Raw or Template.")
    return accepted(svc.send(caller, mail))


@operation("SendBulkEmail")
def _send_bulk(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    defaults = V2.envelope(p, None, "DefaultEmailTags")
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
    )
