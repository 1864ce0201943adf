"""Account actions of both APIs: quota, statistics, sending, the suppression list, tags."""

from __future__ import annotations

from typing import Any

from courrier_sandbox.ses import resource_tags
from courrier_sandbox.ses.api.actions import V1, V2, Handler
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.service import Caller, SesService

v1, v2 = V1.action, V2.action


# ------------------------------------------------------------------------------ v1


def _send_quota(svc: SesService, caller: Caller) -> dict[str, Any]:
    account, sent = svc.account(caller)
    return {
        "Max24HourSend": account.max_24_hour_send,
        "MaxSendRate": account.max_send_rate,
        "SentLast24Hours": sent,
    }


@v1("GetSendQuota")
def _quota(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return _send_quota(svc, caller)


@v1("GetSendStatistics")
def _statistics(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"SendDataPoints": svc.statistics(caller)}


@v1("GetAccountSendingEnabled")
def _sending_enabled(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    return {"Enabled": svc.account(caller)[0].sending_enabled}


def _pause_or_resume(member: str) -> Handler:
    """v1 ``UpdateAccountSendingEnabled`` / v2 ``PutAccountSendingAttributes``."""

    def handler(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
        svc.update_account(caller, sending_enabled=p.get(member, False))
        return {}

    return handler


V1.handlers["UpdateAccountSendingEnabled"] = _pause_or_resume("Enabled")
V2.handlers["PutAccountSendingAttributes"] = _pause_or_resume("SendingEnabled")


# ------------------------------------------------------------------------------ v2


@v2("GetAccount")
def _get_account(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    account = svc.account(caller)[0]
    return {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": account.enforcement_status,
        "ProductionAccessEnabled": account.production,
        "SendingEnabled": account.sending_enabled,
        "SendQuota": _send_quota(svc, caller),
        "SuppressionAttributes": {"SuppressedReasons": account.suppressed_reasons},
    }


@v2("PutAccountSuppressionAttributes")
def _account_suppression(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.update_account(caller, suppressed_reasons=list(p.get("SuppressedReasons", [])))
    return {}


@v2("PutSuppressedDestination")
def _put_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    if not svc.account(caller)[0].production:
        # Not allowed while the account is in the SES sandbox (docs/ses.md#sandbox-account).
        raise SesFault(
            "NotAllowedInSandbox",
            "PutSuppressedDestination is not allowed while your account is in the "
            "Amazon SES sandbox.",
        )
    svc.put_suppressed(caller, p["EmailAddress"], p["Reason"], tenant=p.get("TenantName"))
    return {}


@v2("GetSuppressedDestination")
def _get_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    entry = svc.suppressed(caller, p["EmailAddress"], p.get("TenantName"))
    attributes = {
        k: v for k, v in (("MessageId", entry.message_id), ("FeedbackId", entry.feedback_id)) if v
    }
    return {
        "SuppressedDestination": {
            "EmailAddress": entry.email,
            "Reason": entry.reason,
            "LastUpdateTime": entry.last_update,
            "Attributes": attributes or None,
            "TenantName": p.get("TenantName"),
        }
    }


@v2("ListSuppressedDestinations")
def _list_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    entries = svc.suppressed_list(caller, p.get("Reasons"), p.get("TenantName"))
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


@v2("DeleteSuppressedDestination")
def _delete_suppressed(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_suppressed(caller, p["EmailAddress"], p.get("TenantName"))
    return {}


@v2("TagResource")
def _tag(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.tag_resource(caller, p["ResourceArn"], p["Tags"])
    return {}


@v2("UntagResource")
def _untag(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.untag_resource(caller, p["ResourceArn"], p["TagKeys"])
    return {}


@v2("ListTagsForResource")
def _list_tags(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    with svc.lock:
        return {"Tags": resource_tags.wire(svc.tags(caller, p["ResourceArn"]))}
