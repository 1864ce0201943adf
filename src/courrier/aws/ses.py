"""The SES v2 adapter: one raw send, and the account's quota."""

from __future__ import annotations

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
        with translate("GetAccount"):
            account = self._ses.get_account()
        quota = account.get("SendQuota", {})
        return SendQuota(
            max_24_hour_send=float(quota.get("Max24HourSend", -1)),
            max_send_rate=float(quota.get("MaxSendRate", 1)),
            sent_last_24_hours=float(quota.get("SentLast24Hours", 0)),
            production=bool(account.get("ProductionAccessEnabled", False)),
            sending_enabled=bool(account.get("SendingEnabled", True)),
        )
