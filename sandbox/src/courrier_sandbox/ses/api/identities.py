"""Identity actions of both APIs: verification, DKIM, notifications, MAIL FROM, defaults."""

from __future__ import annotations

from typing import Any

from courrier_sandbox.ses import resource_tags
from courrier_sandbox.ses.api.actions import V1, V2
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.service import Caller, SesService
from courrier_sandbox.ses.state import NOTIFICATION_TYPES, Identity

v1, v2 = V1.action, V2.action
#: v1 spells MAIL FROM values in CamelCase, v2 in capitals.
_V2_BEHAVIOR = {"UseDefaultValue": "USE_DEFAULT_VALUE", "RejectMessage": "REJECT_MESSAGE"}
_V1_BEHAVIOR = {upper: camel for camel, upper in _V2_BEHAVIOR.items()}


def _found(svc: SesService, caller: Caller, names: list[str]) -> list[tuple[str, Identity]]:
    """The identities a v1 Get*Attributes call names; names SES does not know are left out."""
    return [(n, i) for n in names if (i := svc.find_identity(caller, n)) is not None]


# ------------------------------------------------------------------------------ v1


@v1("VerifyEmailIdentity")
@v1("VerifyEmailAddress")  # the older name of the same action
def _verify_email_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.verify_identity(caller, p["EmailAddress"], "EmailAddress")
    return {}


@v1("VerifyDomainIdentity")
def _verify_domain(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.verify_identity(caller, p["Domain"], "Domain")
    return {"VerificationToken": identity.verification_token}


@v1("VerifyDomainDkim")
def _verify_dkim(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.find_identity(caller, p["Domain"]) or svc.verify_identity(caller, p["Domain"])
    return {"DkimTokens": identity.dkim_tokens}


@v1("ListIdentities")
def _list_identities(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    names = [i.name for i in svc.identities(caller, p.get("IdentityType"))]
    found, token = V1.page(p, names, str, "ListIdentities")
    return {"Identities": found, "NextToken": token}


@v1("ListVerifiedEmailAddresses")
def _list_verified(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    found = svc.identities(caller, "EmailAddress")
    return {"VerifiedEmailAddresses": [i.name for i in found if i.verified]}


@v1("GetIdentityVerificationAttributes")
def _verification(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, identity in _found(svc, caller, p["Identities"]):
        attrs: dict[str, Any] = {"VerificationStatus": identity.status}
        if identity.verification_token:
            attrs["VerificationToken"] = identity.verification_token
        out[name] = attrs
    return {"VerificationAttributes": out}


@v1("GetIdentityDkimAttributes")
def _dkim_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, identity in _found(svc, caller, p["Identities"]):
        signer, signs = svc.dkim_of(caller, identity)
        out[name] = {
            "DkimEnabled": signs,
            "DkimVerificationStatus": signer.status if signs else "NotStarted",
            "DkimTokens": signer.dkim_tokens,
        }
    return {"DkimAttributes": out}


@v1("DeleteIdentity")
def _delete_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_identity(caller, p["Identity"])
    return {}


@v1("DeleteVerifiedEmailAddress")
def _delete_verified(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_identity(caller, p["EmailAddress"])
    return {}


@v1("SetIdentityNotificationTopic")
def _set_topic(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    kind = p["NotificationType"]
    if kind not in NOTIFICATION_TYPES:
        raise SesFault("InvalidParameter", f"Invalid notification type {kind}.")
    svc.set_notification_topic(caller, p["Identity"], kind, p.get("SnsTopic"))
    return {}


@v1("GetIdentityNotificationAttributes")
def _notification_attributes(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, identity in _found(svc, caller, p["Identities"]):
        attrs: dict[str, Any] = {"ForwardingEnabled": identity.forwarding_enabled}
        for kind in NOTIFICATION_TYPES:
            if kind in identity.topics:
                attrs[f"{kind}Topic"] = identity.topics[kind]
            attrs[f"HeadersIn{kind}NotificationsEnabled"] = identity.headers_in_notifications.get(
                kind, False
            )
        out[name] = attrs
    return {"NotificationAttributes": out}


@v1("SetIdentityFeedbackForwardingEnabled")
def _forwarding(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_forwarding(caller, p["Identity"], p["ForwardingEnabled"])
    return {}


@v1("SetIdentityHeadersInNotificationsEnabled")
def _headers(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_headers_in_notifications(caller, p["Identity"], p["NotificationType"], p["Enabled"])
    return {}


@v1("SetIdentityMailFromDomain")
def _set_mail_from(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_mail_from(caller, p["Identity"], p.get("MailFromDomain"), p.get("BehaviorOnMXFailure"))
    return {}


@v1("GetIdentityMailFromDomainAttributes")
def _mail_from_v1(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, identity in _found(svc, caller, p["Identities"]):
        attrs = {"BehaviorOnMXFailure": identity.mail_from_behavior}
        if identity.mail_from_domain:
            attrs["MailFromDomain"] = identity.mail_from_domain
            attrs["MailFromDomainStatus"] = identity.mail_from_status
        out[name] = attrs
    return {"MailFromDomainAttributes": out}


# ------------------------------------------------------------------------------ v2


def _identity_type(identity: Identity) -> str:
    return "EMAIL_ADDRESS" if identity.kind == "EmailAddress" else "DOMAIN"


def _dkim_v2(svc: SesService, caller: Caller, identity: Identity) -> dict[str, Any]:
    signer, signs = svc.dkim_of(caller, identity)
    if not signs:
        return {"SigningEnabled": False, "Status": "NOT_STARTED", "Tokens": []}
    return {
        "SigningEnabled": True,
        "Status": signer.status.upper(),
        "Tokens": signer.dkim_tokens,
        "SigningAttributesOrigin": "AWS_SES",
        "CurrentSigningKeyLength": "RSA_2048_BIT",
    }


@v2("CreateEmailIdentity")
def _create_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.create_identity(
        caller,
        p["EmailIdentity"],
        tags=resource_tags.checked(p.get("Tags")),
        configuration_set=p.get("ConfigurationSetName"),
    )
    return {
        "IdentityType": _identity_type(identity),
        "VerifiedForSendingStatus": identity.verified,
        "DkimAttributes": _dkim_v2(svc, caller, identity),
    }


@v2("GetEmailIdentity")
def _get_identity(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    identity = svc.identity(caller, p["EmailIdentity"])
    mail_from = {"BehaviorOnMxFailure": _V2_BEHAVIOR[identity.mail_from_behavior]}
    if identity.mail_from_domain:
        mail_from["MailFromDomain"] = identity.mail_from_domain
        mail_from["MailFromDomainStatus"] = identity.mail_from_status.upper()
    return {
        "IdentityType": _identity_type(identity),
        "FeedbackForwardingStatus": identity.forwarding_enabled,
        "VerifiedForSendingStatus": identity.verified,
        "VerificationStatus": identity.status.upper(),
        "DkimAttributes": _dkim_v2(svc, caller, identity),
        "MailFromAttributes": mail_from,
        "Policies": {},
        "Tags": resource_tags.wire(identity.tags),
        "ConfigurationSetName": identity.configuration_set,
    }


@v2("ListEmailIdentities")
def _list_identities_v2(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
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


@v2("DeleteEmailIdentity")
def _delete_identity_v2(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.identity(caller, p["EmailIdentity"])
    svc.delete_identity(caller, p["EmailIdentity"])
    return {}


@v2("PutEmailIdentityFeedbackAttributes")
def _feedback_attributes(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_forwarding(caller, p["EmailIdentity"], p.get("EmailForwardingEnabled", False))
    return {}


@v2("PutEmailIdentityMailFromAttributes")
def _put_mail_from(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    behavior = p.get("BehaviorOnMxFailure")
    svc.set_mail_from(
        caller,
        p["EmailIdentity"],
        p.get("MailFromDomain"),
        _V1_BEHAVIOR[behavior] if behavior else None,
    )
    return {}


@v2("PutEmailIdentityConfigurationSetAttributes")
def _identity_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.set_identity_configuration_set(caller, p["EmailIdentity"], p.get("ConfigurationSetName"))
    return {}
