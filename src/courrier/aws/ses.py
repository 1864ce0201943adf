"""The SES v2 adapter: one raw send, the account's state, and its suppression list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from courrier.aws.clients import AwsConfig, client
from courrier.aws.errors import translate


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float  # -1 means unlimited
    max_send_rate: float
    sent_last_24_hours: float
    production: bool
    sending_enabled: bool


@dataclass(frozen=True)
class AccountView:
    """SES's own view of the account (GetAccount, facts §6.2)."""

    quota: SendQuota
    #: HEALTHY | PROBATION (under review) | SHUTDOWN (sending paused)
    enforcement_status: str
    suppressed_reasons: tuple[str, ...]


@dataclass(frozen=True)
class SuppressedDestination:
    """One entry of the account-level suppression list (facts §8)."""

    address: str
    reason: str  # BOUNCE | COMPLAINT
    last_update: dt.datetime | None


class SesClient:
    """SES v2 calls used by the sending side; errors come out as courrier's."""

    def __init__(self, config: AwsConfig | None = None, *, ses: Any = None) -> None:
        self._ses = ses if ses is not None else client("sesv2", config, single_attempt=True)

    @property
    def endpoint(self) -> str:
        return str(self._ses.meta.endpoint_url)

    @property
    def region(self) -> str:
        return str(self._ses.meta.region_name)

    def send_raw(
        self,
        raw: bytes,
        *,
        sender: str,
        destinations: list[str],
        configuration_set: str | None,
        tags: dict[str, str],
        feedback_address: str | None,
    ) -> str:
        params: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": destinations},
            "Content": {"Raw": {"Data": raw}},
        }
        if configuration_set:
            params["ConfigurationSetName"] = configuration_set
        if tags:
            params["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        if feedback_address:
            params["FeedbackForwardingEmailAddress"] = feedback_address
        with translate("SendEmail", sending=True):
            response = self._ses.send_email(**params)
        return str(response["MessageId"])

    def quota(self) -> SendQuota:
        return self.account().quota

    def account(self) -> AccountView:
        with translate("GetAccount"):
            account = self._ses.get_account()
        quota = account.get("SendQuota", {})
        return AccountView(
            quota=SendQuota(
                max_24_hour_send=float(quota.get("Max24HourSend", -1)),
                max_send_rate=float(quota.get("MaxSendRate", 1)),
                sent_last_24_hours=float(quota.get("SentLast24Hours", 0)),
                production=bool(account.get("ProductionAccessEnabled", False)),
                sending_enabled=bool(account.get("SendingEnabled", True)),
            ),
            enforcement_status=str(account.get("EnforcementStatus", "HEALTHY")),
            suppressed_reasons=tuple(
                account.get("SuppressionAttributes", {}).get("SuppressedReasons", [])
            ),
        )

    def suppressed_page(
        self, *, page_size: int, next_token: str | None = None
    ) -> tuple[list[SuppressedDestination], str | None]:
        """One page of the account-level suppression list, and the token of the next."""
        params: dict[str, Any] = {"PageSize": page_size}
        if next_token:
            params["NextToken"] = next_token
        with translate("ListSuppressedDestinations"):
            response = self._ses.list_suppressed_destinations(**params)
        entries = [
            SuppressedDestination(
                address=str(item["EmailAddress"]).lower(),
                reason=str(item["Reason"]),
                last_update=item.get("LastUpdateTime"),
            )
            for item in response.get("SuppressedDestinationSummaries", [])
        ]
        return entries, response.get("NextToken") or None

    def suppress(self, address: str, reason: str) -> None:
        """Add ``address`` to the account-level list; ``reason`` is BOUNCE or COMPLAINT."""
        with translate("PutSuppressedDestination"):
            self._ses.put_suppressed_destination(EmailAddress=address, Reason=reason)
