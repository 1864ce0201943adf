"""Configuration set actions of both APIs: the sets, their event destinations and options.

The sandbox keeps a set's options as v2 spells them; v1's actions read and write the same
values under their own names (``Require`` for ``REQUIRE``, ``UpdateConfiguration...``).
"""

from __future__ import annotations

from typing import Any

from courrier_sandbox.ses import resource_tags
from courrier_sandbox.ses.api.actions import V1, V2, Handler
from courrier_sandbox.ses.configuration_sets import OPTION_GROUPS
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.service import Caller, SesService
from courrier_sandbox.ses.state import EVENT_TYPES, V1_EVENT_TYPES, EventDestination

v1, v2 = V1.action, V2.action
_V1_TYPE_NAMES = {upper: lower for lower, upper in V1_EVENT_TYPES.items()}
_V1_TLS = {"Require": "REQUIRE", "Optional": "OPTIONAL"}
_V2_TLS = {upper: camel for camel, upper in _V1_TLS.items()}


# ------------------------------------------------------------------------------ v1


@v1("CreateConfigurationSet")
def _create_set_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.create_configuration_set(caller, p["ConfigurationSet"]["Name"])
    return {}


@v1("DescribeConfigurationSet")
def _describe_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    """The set's name, and the attributes the call asks for (``ConfigurationSetAttributeNames``)."""
    config = svc.configuration_set(caller, p["ConfigurationSetName"])
    wanted = set(p.get("ConfigurationSetAttributeNames") or [])
    out: dict[str, Any] = {"ConfigurationSet": {"Name": config.name}}
    if "eventDestinations" in wanted:
        out["EventDestinations"] = [_v1_destination(d) for d in config.destinations.values()]
    domain = config.option("TrackingOptions", "CustomRedirectDomain")
    if "trackingOptions" in wanted and domain:
        out["TrackingOptions"] = {"CustomRedirectDomain": domain}
    tls = config.option("DeliveryOptions", "TlsPolicy")
    if "deliveryOptions" in wanted and tls:
        out["DeliveryOptions"] = {"TlsPolicy": _V2_TLS[tls]}
    if "reputationOptions" in wanted:
        out["ReputationOptions"] = {
            "SendingEnabled": config.sending_enabled,
            "ReputationMetricsEnabled": bool(
                config.option("ReputationOptions", "ReputationMetricsEnabled")
            ),
            "LastFreshStart": config.option("ReputationOptions", "LastFreshStart"),
        }
    return out


@v1("ListConfigurationSets")
def _list_sets_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    names = [c.name for c in svc.configuration_sets(caller)]
    found, token = V1.page(p, names, str, "ListConfigurationSets")
    return {"ConfigurationSets": [{"Name": name} for name in found], "NextToken": token}


@v1("UpdateConfigurationSetSendingEnabled")
def _set_sending_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_configuration_set_sending(caller, p["ConfigurationSetName"], p["Enabled"])
    return {}


@v1("UpdateConfigurationSetReputationMetricsEnabled")
def _reputation_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    values = {"ReputationMetricsEnabled": p["Enabled"]}
    svc.put_options(caller, p["ConfigurationSetName"], "ReputationOptions", values)
    return {}


def _v1_tracking(create: bool | None) -> Handler:
    def handler(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ConfigurationSetName"]
        svc.tracking_options(caller, name, create=create)
        if create is None:
            svc.put_options(caller, name, "TrackingOptions", None)
            return {}
        domain = (p.get("TrackingOptions") or {}).get("CustomRedirectDomain")
        if not domain:
            raise SesFault("InvalidTrackingOptions", "CustomRedirectDomain is required.")
        # v1 has no HttpsPolicy: an update keeps the one v2 set.
        policy = svc.configuration_set(caller, name).option("TrackingOptions", "HttpsPolicy")
        values = {"CustomRedirectDomain": domain, **({"HttpsPolicy": policy} if policy else {})}
        svc.put_options(caller, name, "TrackingOptions", values)
        return {}

    return handler


V1.handlers["CreateConfigurationSetTrackingOptions"] = _v1_tracking(create=True)
V1.handlers["UpdateConfigurationSetTrackingOptions"] = _v1_tracking(create=False)
V1.handlers["DeleteConfigurationSetTrackingOptions"] = _v1_tracking(create=None)


@v1("PutConfigurationSetDeliveryOptions")
def _delivery_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    given = p.get("DeliveryOptions")
    values = (
        {"TlsPolicy": _V1_TLS[given["TlsPolicy"]]} if given and given.get("TlsPolicy") else None
    )
    svc.put_options(caller, p["ConfigurationSetName"], "DeliveryOptions", values)
    return {}


def _destination_v1(given: dict[str, Any]) -> EventDestination:
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


@v1("CreateConfigurationSetEventDestination")
def _create_destination_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination_v1(p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=True)
    return {}


@v1("UpdateConfigurationSetEventDestination")
def _update_destination_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination_v1(p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=False)
    return {}


# ------------------------------------------------------------------------------ v2


@v2("CreateConfigurationSet")
def _create_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.create_configuration_set(
        caller,
        p["ConfigurationSetName"],
        options={group: p[group] for group in OPTION_GROUPS if p.get(group) is not None},
        tags=resource_tags.checked(p.get("Tags")),
        sending_enabled=(p.get("SendingOptions") or {}).get("SendingEnabled", True),
    )
    return {}


@v2("GetConfigurationSet")
def _get_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    config = svc.configuration_set(caller, p["ConfigurationSetName"])
    reputation = {"ReputationMetricsEnabled": False, **config.options.get("ReputationOptions", {})}
    return {
        **config.options,
        "ConfigurationSetName": config.name,
        "SendingOptions": {"SendingEnabled": config.sending_enabled},
        "ReputationOptions": reputation,
        "Tags": resource_tags.wire(config.tags),
    }


@v2("ListConfigurationSets")
def _list_sets(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    names = [c.name for c in svc.configuration_sets(caller)]
    found, token = V2.page(p, names, str, "ListConfigurationSets", token_fault="InvalidParameter")
    return {"ConfigurationSets": found, "NextToken": token}


@v2("PutConfigurationSetSendingOptions")
def _set_sending(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_configuration_set_sending(
        caller, p["ConfigurationSetName"], p.get("SendingEnabled", False)
    )
    return {}


def _v2_put(group: str, members: tuple[str, ...], *, required: str | None = None) -> Handler:
    """A ``PutConfigurationSet...Options`` action: the group is the call's members.

    Without its ``required`` member (a tracking domain, an archive) the group is removed.
    """

    def handler(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
        values = {m: p[m] for m in members if p.get(m) is not None}
        if len(members) == 1 and members[0] == group:
            values = dict(values.get(group) or {})
        keep = values if (required is None or values.get(required)) else None
        svc.put_options(caller, p["ConfigurationSetName"], group, keep)
        return {}

    return handler


for _name, _group, _members, _required in (
    (
        "PutConfigurationSetDeliveryOptions",
        "DeliveryOptions",
        ("TlsPolicy", "SendingPoolName", "MaxDeliverySeconds", "SharedPoolDeliveryMode"),
        None,
    ),
    (
        "PutConfigurationSetReputationOptions",
        "ReputationOptions",
        ("ReputationMetricsEnabled",),
        None,
    ),
    (
        "PutConfigurationSetSuppressionOptions",
        "SuppressionOptions",
        ("SuppressedReasons", "SuppressionScope", "ValidationOptions"),
        None,
    ),
    (
        "PutConfigurationSetTrackingOptions",
        "TrackingOptions",
        ("CustomRedirectDomain", "HttpsPolicy"),
        "CustomRedirectDomain",
    ),
    ("PutConfigurationSetVdmOptions", "VdmOptions", ("VdmOptions",), None),
    ("PutConfigurationSetArchivingOptions", "ArchivingOptions", ("ArchiveArn",), "ArchiveArn"),
    ("UpdateConfigurationSet", "MessageSecurityOptions", ("MessageSecurityOptions",), None),
):
    V2.handlers[_name] = _v2_put(_group, _members, required=_required)


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


@v2("CreateConfigurationSetEventDestination")
def _create_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination(p["EventDestinationName"], p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=True)
    return {}


@v2("UpdateConfigurationSetEventDestination")
def _update_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    destination = _destination(p["EventDestinationName"], p["EventDestination"])
    svc.put_event_destination(caller, p["ConfigurationSetName"], destination, create=False)
    return {}


@v2("GetConfigurationSetEventDestinations")
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
