"""SES v1: the query/XML API (``Action=SendEmail&Version=2010-12-01``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationNotFoundError

from courrier.sandbox import wire
from courrier.sandbox.faults import SesFault
from courrier.sandbox.ses_actions import V1, Reply
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
from courrier.sandbox.ses_state import NOTIFICATION_TYPES, V1_EVENT_TYPES, EventDestination
from courrier.sandbox.templates import Template, parse_data

_V1_TYPE_NAMES = {upper: lower for lower, upper in V1_EVENT_TYPES.items()}
action = V1.action


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
        return Reply(400, wire.query_error("ValidationError", str(err), request_id))
    except (ValueError, TypeError) as err:
        # Malformed values (a number that is not one, bad base64): refused, never a crash.
        return Reply(400, wire.query_error("InvalidParameterValue", str(err), request_id))
    except SesFault as fault:
        return Reply(400, wire.query_error(V1.code(fault), fault.message, request_id))
    return Reply(200, wire.query_response(operation, result, request_id), after)


# ---------------------------------------------------------------- identities


@action("VerifyEmailIdentity")
@action("VerifyEmailAddress")  # the older name of the same action
def _verify_email_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.verify_identity(caller, p["EmailAddress"])
    return {}


@action("VerifyDomainIdentity")
def _verify_domain(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.verify_identity(caller, p["Domain"])
    return {"VerificationToken": identity.verification_token}


@action("VerifyDomainDkim")
def _verify_dkim(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.find_identity(caller, p["Domain"]) or svc.verify_identity(caller, p["Domain"])
    return {"DkimTokens": identity.dkim_tokens}


@action("ListIdentities")
def _list_identities(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    names = [i.name for i in svc.identities(caller, p.get("IdentityType"))]
    found, token = V1.page(p, names, str, "ListIdentities")
    return {"Identities": found, "NextToken": token}


@action("ListVerifiedEmailAddresses")
def _list_verified(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found = svc.identities(caller, "EmailAddress")
    return {"VerifiedEmailAddresses": [i.name for i in found if i.verified]}


@action("GetIdentityVerificationAttributes")
def _verification(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in p["Identities"]:
        identity = svc.find_identity(caller, name)
        if identity is None:
            continue
        attrs: dict[str, Any] = {"VerificationStatus": identity.status}
        if identity.verification_token:
            attrs["VerificationToken"] = identity.verification_token
        out[name] = attrs
    return {"VerificationAttributes": out}


@action("GetIdentityDkimAttributes")
def _dkim(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in p["Identities"]:
        identity = svc.find_identity(caller, name)
        if identity is None:
            continue
        out[name] = {
            "DkimEnabled": identity.dkim_enabled,
            "DkimVerificationStatus": identity.status if identity.dkim_enabled else "NotStarted",
            "DkimTokens": identity.dkim_tokens,
        }
    return {"DkimAttributes": out}


@action("DeleteIdentity")
def _delete_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_identity(caller, p["Identity"])
    return {}


@action("DeleteVerifiedEmailAddress")
def _delete_verified(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_identity(caller, p["EmailAddress"])
    return {}


@action("SetIdentityNotificationTopic")
def _set_topic(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    kind = p["NotificationType"]
    if kind not in NOTIFICATION_TYPES:
        raise SesFault("InvalidParameter", f"Invalid notification type {kind}.")
    svc.set_notification_topic(caller, p["Identity"], kind, p.get("SnsTopic"))
    return {}


@action("GetIdentityNotificationAttributes")
def _notification_attributes(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in p["Identities"]:
        identity = svc.find_identity(caller, name)
        if identity is None:
            continue
        attrs: dict[str, Any] = {"ForwardingEnabled": identity.forwarding_enabled}
        for kind in NOTIFICATION_TYPES:
            if kind in identity.topics:
                attrs[f"{kind}Topic"] = identity.topics[kind]
            attrs[f"HeadersIn{kind}NotificationsEnabled"] = identity.headers_in_notifications.get(
                kind, False
            )
        out[name] = attrs
    return {"NotificationAttributes": out}


@action("SetIdentityFeedbackForwardingEnabled")
def _forwarding(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_forwarding(caller, p["Identity"], p["ForwardingEnabled"])
    return {}


@action("SetIdentityHeadersInNotificationsEnabled")
def _headers(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_headers_in_notifications(caller, p["Identity"], p["NotificationType"], p["Enabled"])
    return {}


# ------------------------------------------------------------ account, sets


@action("GetSendQuota")
def _quota(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    account, sent = svc.account(caller)
    return {
        "Max24HourSend": account.max_24_hour_send,
        "MaxSendRate": account.max_send_rate,
        "SentLast24Hours": sent,
    }


@action("GetAccountSendingEnabled")
def _sending_enabled(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Enabled": svc.account(caller)[0].sending_enabled}


@action("UpdateAccountSendingEnabled")
def _update_sending(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.update_account(caller, sending_enabled=p.get("Enabled", False))
    return {}


@action("CreateConfigurationSet")
def _create_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.create_configuration_set(caller, p["ConfigurationSet"]["Name"])
    return {}


@action("DescribeConfigurationSet")
def _describe_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    config = svc.configuration_set(caller, p["ConfigurationSetName"])
    return {
        "ConfigurationSet": {"Name": config.name},
        "EventDestinations": [_v1_destination(d) for d in config.destinations.values()],
    }


@action("ListConfigurationSets")
def _list_sets(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    with svc.lock:
        names = list(svc.state(caller).configuration_sets)
    found, token = V1.page(p, names, str, "ListConfigurationSets")
    return {"ConfigurationSets": [{"Name": name} for name in found], "NextToken": token}


@action("UpdateConfigurationSetSendingEnabled")
def _set_sending(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_configuration_set_sending(caller, p["ConfigurationSetName"], p["Enabled"])
    return {}


@action("CreateConfigurationSetEventDestination")
def _create_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_event_destination(
        caller, p["ConfigurationSetName"], _destination(p["EventDestination"]), create=True
    )
    return {}


@action("UpdateConfigurationSetEventDestination")
def _update_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.put_event_destination(
        caller, p["ConfigurationSetName"], _destination(p["EventDestination"]), create=False
    )
    return {}


def _destination(given: dict[str, Any]) -> EventDestination:
    types = []
    for name in given.get("MatchingEventTypes", []):
        if name not in V1_EVENT_TYPES:
            raise SesFault("InvalidParameter", f"Invalid event type {name}.")
        types.append(V1_EVENT_TYPES[name])
    return EventDestination(
        name=given["Name"],
        enabled=given.get("Enabled", False),
        matching_types=types,
        sns_topic_arn=given.get("SNSDestination", {}).get("TopicARN"),
    )


def _v1_destination(destination: EventDestination) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": destination.name,
        "Enabled": destination.enabled,
        "MatchingEventTypes": [
            _V1_TYPE_NAMES[t] for t in destination.matching_types if t in _V1_TYPE_NAMES
        ],
    }
    if destination.sns_topic_arn:
        out["SNSDestination"] = {"TopicARN": destination.sns_topic_arn}
    return out


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
    message = p["Message"]
    body = message.get("Body", {})
    mail = simple_mail(
        V1.envelope(p, p["Destination"], "Tags"),
        subject=message.get("Subject", {}).get("Data", ""),
        text=body.get("Text", {}).get("Data"),
        html=body.get("Html", {}).get("Data"),
    )
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
