"""SES v1: the query/XML API (``Action=SendEmail&Version=2010-12-01``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationNotFoundError

from courrier.sandbox import wire
from courrier.sandbox.faults import SesFault
from courrier.sandbox.mail import Mail, build_simple, header_recipients, tags_from_headers
from courrier.sandbox.pagination import page
from courrier.sandbox.ses_service import Caller, SesService
from courrier.sandbox.ses_state import NOTIFICATION_TYPES, V1_EVENT_TYPES, EventDestination

#: SesFault kinds as SES v1 names them on the wire (facts §6.1).
V1_CODES = {
    "InvalidParameter": "InvalidParameterValue",
    "MessageRejected": "MessageRejected",
    "Throttling": "Throttling",
    "DailyQuota": "Throttling",
    "AccountPaused": "AccountSendingPausedException",
    "ConfigSetPaused": "ConfigurationSetSendingPausedException",
    "ConfigSetMissing": "ConfigurationSetDoesNotExist",
    "ConfigSetExists": "ConfigurationSetAlreadyExists",
    "DestinationExists": "EventDestinationAlreadyExists",
    "DestinationMissing": "EventDestinationDoesNotExist",
    "NotFound": "InvalidParameterValue",
    "AlreadyExists": "AlreadyExists",
    "LimitExceeded": "LimitExceeded",
    "NotAllowedInSandbox": "InvalidParameterValue",
    "Validation": "ValidationError",
    "InvalidNextToken": "InvalidParameterValue",
}
_V1_TYPE_NAMES = {upper: lower for lower, upper in V1_EVENT_TYPES.items()}


@dataclass
class Reply:
    status: int
    body: bytes
    after: Callable[[], None] | None = None


Handler = Callable[[SesService, Caller, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def action(name: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[name] = function
        return function

    return register


def handle(service: SesService, caller: Caller, params: Mapping[str, str]) -> Reply:
    request_id = str(uuid.uuid4())
    name = params.get("Action", "")
    handler = HANDLERS.get(name)
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
        result = handler(service, caller, decoded)
    except wire.InvalidEnum as err:
        return Reply(400, wire.query_error("ValidationError", str(err), request_id))
    except (ValueError, TypeError) as err:
        # Malformed values (a number that is not one, bad base64): refused, never a crash.
        return Reply(400, wire.query_error("InvalidParameterValue", str(err), request_id))
    except SesFault as fault:
        code = V1_CODES.get(fault.kind, fault.kind)
        return Reply(400, wire.query_error(code, fault.message, request_id))
    after = result.pop("__after__", None)
    return Reply(200, wire.query_response(operation, result, request_id), after)


# ---------------------------------------------------------------- identities


@action("VerifyEmailIdentity")
def _verify_email_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.verify_identity(caller, p["EmailAddress"])
    return {}


@action("VerifyEmailAddress")
def _verify_email_address(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
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


def _page(p: dict[str, Any], items: list[Any], key: Any, operation: str) -> tuple[list[Any], Any]:
    return page(
        items,
        key,
        api="v1",
        operation=operation,
        size=p.get("MaxItems"),
        token=p.get("NextToken"),
        size_name="MaxItems",
    )


@action("ListIdentities")
def _list_identities(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    names = [i.name for i in svc.identities(caller, p.get("IdentityType"))]
    found, token = _page(p, names, str, "ListIdentities")
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
    found, token = _page(p, names, str, "ListConfigurationSets")
    return {"ConfigurationSets": [{"Name": name} for name in found], "NextToken": token}


@action("DeleteConfigurationSet")
def _delete_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_configuration_set(caller, p["ConfigurationSetName"])
    return {}


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


@action("DeleteConfigurationSetEventDestination")
def _delete_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_event_destination(caller, p["ConfigurationSetName"], p["EventDestinationName"])
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


# --------------------------------------------------------------------- sending


@action("SendEmail")
def _send_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = p["Destination"]
    message = p["Message"]
    body = message.get("Body", {})
    raw = build_simple(
        source=p["Source"],
        to=destination.get("ToAddresses", []),
        cc=destination.get("CcAddresses", []),
        reply_to=p.get("ReplyToAddresses", []),
        subject=message.get("Subject", {}).get("Data", ""),
        text=body.get("Text", {}).get("Data"),
        html=body.get("Html", {}).get("Data"),
    )
    recipients = [
        *destination.get("ToAddresses", []),
        *destination.get("CcAddresses", []),
        *destination.get("BccAddresses", []),
    ]
    mail = Mail(
        raw=raw,
        source=p["Source"],
        destinations=recipients,
        operation="SendEmail",
        tags={t["Name"]: t["Value"] for t in p.get("Tags", [])},
        configuration_set=p.get("ConfigurationSetName"),
        feedback_address=p.get("ReturnPath"),
    )
    accepted = svc.send(caller, mail)
    return {"MessageId": accepted.message_id, "__after__": accepted.release}


@action("SendRawEmail")
def _send_raw_email(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    raw: bytes = p["RawMessage"]["Data"]
    parsed = Mail(raw=raw, source="", destinations=[], operation="SendRawEmail").parsed()
    source = p.get("Source") or str(parsed.get("From", ""))
    header_tags = tags_from_headers(parsed)
    api_tags = {t["Name"]: t["Value"] for t in p.get("Tags", [])}
    mail = Mail(
        raw=raw,
        source=source,
        destinations=p.get("Destinations") or header_recipients(parsed),
        operation="SendRawEmail",
        # Tags given in the API win over X-SES-MESSAGE-TAGS (facts §2).
        tags=api_tags or header_tags,
        configuration_set=p.get("ConfigurationSetName")
        or (str(parsed["X-SES-CONFIGURATION-SET"]) if parsed["X-SES-CONFIGURATION-SET"] else None),
    )
    accepted = svc.send(caller, mail)
    return {"MessageId": accepted.message_id, "__after__": accepted.release}
