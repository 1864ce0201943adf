"""The SES v2 adapter: raw and templated sends, templates, the account and its suppression list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from courrier.aws.clients import AwsConfig, client
from courrier.aws.errors import translate
from courrier.errors import AwsError, TemplateNotFound


class ClientMeta(Protocol):
    """Where a boto3 client sends its calls."""

    @property
    def endpoint_url(self) -> str: ...

    @property
    def region_name(self) -> str: ...


class SesApi(Protocol):
    """The SES v2 calls :class:`SesClient` makes, as boto3's ``sesv2`` client takes them; a
    stand-in answers the same. Parameters and answers are the API's own
    (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_Operations.html); the
    structured ones are left to the API's types (``Any``), so that boto3's client, typed per
    member by its stubs, is one."""

    @property
    def meta(self) -> ClientMeta: ...

    def send_email(
        self,
        *,
        FromEmailAddress: str = ...,
        Destination: Any = ...,
        Content: Any,
        ReplyToAddresses: Sequence[str] = ...,
        ConfigurationSetName: str = ...,
        FeedbackForwardingEmailAddress: str = ...,
        EmailTags: Sequence[Any] = ...,
        TenantName: str = ...,
        ListManagementOptions: Any = ...,
    ) -> Mapping[str, Any]: ...

    def send_bulk_email(
        self,
        *,
        FromEmailAddress: str = ...,
        DefaultContent: Any,
        BulkEmailEntries: Sequence[Any],
        ReplyToAddresses: Sequence[str] = ...,
        ConfigurationSetName: str = ...,
        FeedbackForwardingEmailAddress: str = ...,
        DefaultEmailTags: Sequence[Any] = ...,
        TenantName: str = ...,
    ) -> Mapping[str, Any]: ...

    def create_email_template(
        self, *, TemplateName: str, TemplateContent: Any
    ) -> Mapping[str, Any]: ...

    def update_email_template(
        self, *, TemplateName: str, TemplateContent: Any
    ) -> Mapping[str, Any]: ...

    def get_email_template(self, *, TemplateName: str) -> Mapping[str, Any]: ...

    def list_email_templates(
        self, *, PageSize: int = ..., NextToken: str = ...
    ) -> Mapping[str, Any]: ...

    def test_render_email_template(
        self, *, TemplateName: str, TemplateData: str
    ) -> Mapping[str, Any]: ...

    def get_account(self) -> Mapping[str, Any]: ...

    def list_suppressed_destinations(
        self, *, PageSize: int = ..., NextToken: str = ...
    ) -> Mapping[str, Any]: ...

    def put_suppressed_destination(
        self, *, EmailAddress: str, Reason: Any
    ) -> Mapping[str, Any]: ...

    def get_tenant(self, *, TenantName: str) -> Mapping[str, Any]: ...

    def get_reputation_entity(
        self, *, ReputationEntityReference: str, ReputationEntityType: Any
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float  # -1 means unlimited
    max_send_rate: float
    sent_last_24_hours: float
    production: bool
    sending_enabled: bool


@dataclass(frozen=True)
class AccountView:
    """SES's own view of the account (GetAccount, docs/ses.md#limits)."""

    quota: SendQuota
    #: HEALTHY | PROBATION (under review) | SHUTDOWN (sending paused)
    enforcement_status: str
    suppressed_reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "enforcement_status": self.enforcement_status,
            "sending_enabled": self.quota.sending_enabled,
            "production": self.quota.production,
            "max_24_hour_send": self.quota.max_24_hour_send,
            "max_send_rate": self.quota.max_send_rate,
            "sent_last_24_hours": self.quota.sent_last_24_hours,
        }


@dataclass(frozen=True)
class TenantReputation:
    """SES's view of one tenant's reputation entity (GetTenant, GetReputationEntity;
    https://docs.aws.amazon.com/ses/latest/dg/tenants.html#reputation-monitoring-and-enforcement)."""

    tenant: str
    #: The tenant's own sending status: ENABLED | REINSTATED | DISABLED.
    sending_status: str
    #: The entity's aggregate: DISABLED when either the customer-managed or the SES-managed
    #: status is.
    aggregate_status: str
    customer_managed_status: str | None
    aws_managed_status: str | None
    #: The reputation policy (an ARN naming ``standard``, ``strict`` or ``none``).
    policy: str | None
    impact: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "tenant": self.tenant,
            "sending_status": self.sending_status,
            "aggregate_status": self.aggregate_status,
            "customer_managed_status": self.customer_managed_status,
            "aws_managed_status": self.aws_managed_status,
            "policy": self.policy,
            "impact": self.impact,
        }


@dataclass(frozen=True)
class SuppressedDestination:
    """One entry of the account-level suppression list
    (docs/ses.md#account-level-suppression-list)."""

    address: str
    reason: str  # BOUNCE | COMPLAINT
    last_update: dt.datetime | None


@dataclass(frozen=True)
class BulkEntryResult:
    """One destination's answer in a SendBulkEmail call (docs/ses.md#sending-at-volume)."""

    status: str  # SUCCESS, MESSAGE_REJECTED, ACCOUNT_THROTTLED, ...
    message_id: str | None
    error: str | None


@dataclass(frozen=True)
class BulkEntry:
    to: list[str]
    data: str  # JSON replacement data
    tags: dict[str, str]
    #: This destination's own headers (ReplacementHeaders): its unsubscribe link.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredTemplate:
    name: str
    subject: str
    text: str | None
    html: str | None


def _destination(to: list[str], cc: list[str], bcc: list[str]) -> dict[str, list[str]]:
    destination = {"ToAddresses": to}
    if cc:
        destination["CcAddresses"] = cc
    if bcc:
        destination["BccAddresses"] = bcc
    return destination


def _headers(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in headers.items()]


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in tags.items()]


class TemplateCalls:
    """SES v2 templates and templated sends; mixed into :class:`SesClient`."""

    _ses: SesApi

    def send_templated(
        self,
        *,
        sender: str,
        to: list[str],
        cc: list[str],
        bcc: list[str],
        reply_to: list[str],
        template: str,
        data: str,
        configuration_set: str | None,
        tags: dict[str, str],
        feedback_address: str | None,
        headers: dict[str, str] | None = None,
        list_management: dict[str, str] | None = None,
        tenant: str | None = None,
    ) -> str:
        given: dict[str, Any] = {"TemplateName": template, "TemplateData": data}
        if headers:
            given["Headers"] = _headers(headers)
        params: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": _destination(to, cc, bcc),
            "Content": {"Template": given},
        }
        _options(params, reply_to, configuration_set, feedback_address, tenant)
        if list_management:
            params["ListManagementOptions"] = list_management
        if tags:
            params["EmailTags"] = _tags(tags)
        with translate("SendEmail", sending=True):
            response = self._ses.send_email(**params)
        return str(response["MessageId"])

    def send_bulk(
        self,
        *,
        sender: str,
        reply_to: list[str],
        template: str,
        default_data: str,
        entries: list[BulkEntry],
        configuration_set: str | None,
        tags: dict[str, str],
        feedback_address: str | None,
        tenant: str | None = None,
    ) -> list[BulkEntryResult]:
        """One SendBulkEmail call: one result per entry, in the entries' order."""
        params: dict[str, Any] = {
            "FromEmailAddress": sender,
            "DefaultContent": {
                "Template": {"TemplateName": template, "TemplateData": default_data}
            },
            "BulkEmailEntries": [
                {
                    "Destination": {"ToAddresses": entry.to},
                    "ReplacementTags": _tags(entry.tags),
                    "ReplacementEmailContent": {
                        "ReplacementTemplate": {"ReplacementTemplateData": entry.data}
                    },
                    **({"ReplacementHeaders": _headers(entry.headers)} if entry.headers else {}),
                }
                for entry in entries
            ],
        }
        _options(params, reply_to, configuration_set, feedback_address, tenant)
        if tags:
            params["DefaultEmailTags"] = _tags(tags)
        with translate("SendBulkEmail", sending=True):
            response = self._ses.send_bulk_email(**params)
        return [
            BulkEntryResult(
                status=str(item.get("Status", "FAILED")),
                message_id=item.get("MessageId") or None,
                error=item.get("Error") or None,
            )
            for item in response.get("BulkEmailEntryResults", [])
        ]

    def put_template(self, template: StoredTemplate) -> str:
        """Create or update; ``created``, ``updated`` or ``unchanged`` (idempotent)."""
        content: dict[str, str] = {"Subject": template.subject}
        if template.text is not None:
            content["Text"] = template.text
        if template.html is not None:
            content["Html"] = template.html
        current = self.get_template(template.name)
        if current is None:
            with translate("CreateEmailTemplate"):
                self._ses.create_email_template(TemplateName=template.name, TemplateContent=content)
            return "created"
        if current == template:
            return "unchanged"
        with translate("UpdateEmailTemplate"):
            self._ses.update_email_template(TemplateName=template.name, TemplateContent=content)
        return "updated"

    def get_template(self, name: str) -> StoredTemplate | None:
        try:
            with translate("GetEmailTemplate"):
                found = self._ses.get_email_template(TemplateName=name)
        except AwsError as err:
            if err.code == "NotFoundException":
                return None
            raise
        content = found.get("TemplateContent", {})
        return StoredTemplate(
            name=str(found.get("TemplateName", name)),
            subject=str(content.get("Subject", "")),
            text=content.get("Text"),
            html=content.get("Html"),
        )

    def template_names(self) -> list[str]:
        """Every template of the region, following NextToken."""
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"PageSize": 100}
            if token:
                params["NextToken"] = token
            with translate("ListEmailTemplates"):
                page = self._ses.list_email_templates(**params)
            names.extend(str(t["TemplateName"]) for t in page.get("TemplatesMetadata", []))
            token = page.get("NextToken")
            if not token:
                return names

    def render_template(self, name: str, data: str) -> str:
        """SES's own rendering (TestRenderEmailTemplate): the MIME text it would send."""
        try:
            with translate("TestRenderEmailTemplate"):
                response = self._ses.test_render_email_template(
                    TemplateName=name, TemplateData=data
                )
        except AwsError as err:
            # The call names no other resource: NotFoundException is the template
            # (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_TestRenderEmailTemplate.html).
            if err.code == "NotFoundException":
                raise missing_template(err) from err
            raise
        return str(response["RenderedTemplate"])


class SesClient(TemplateCalls):
    """SES v2 calls used by the sending side; errors come out as courrier's."""

    def __init__(self, config: AwsConfig | None = None, *, ses: SesApi | None = None) -> None:
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
        list_management: dict[str, str] | None = None,
        tenant: str | None = None,
    ) -> str:
        """One v2 SendEmail of a rendered message; ``list_management``: its
        ``ListManagementOptions`` (SES's subscription management)."""
        params: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": destinations},
            "Content": {"Raw": {"Data": raw}},
        }
        _options(params, [], configuration_set, feedback_address, tenant)
        if list_management:
            params["ListManagementOptions"] = list_management
        if tags:
            params["EmailTags"] = _tags(tags)
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

    def tenant_reputation(self, tenant: str) -> TenantReputation:
        """The tenant's status and its reputation entity's (a tenant is an entity of type
        RESOURCE named by its ARN)."""
        with translate("GetTenant"):
            found = self._ses.get_tenant(TenantName=tenant)["Tenant"]
        with translate("GetReputationEntity"):
            entity = self._ses.get_reputation_entity(
                ReputationEntityReference=found["TenantArn"], ReputationEntityType="RESOURCE"
            ).get("ReputationEntity", {})

        def status(key: str) -> str | None:
            record = entity.get(key) or {}
            return str(record["Status"]) if record.get("Status") else None

        return TenantReputation(
            tenant=tenant,
            sending_status=str(found.get("SendingStatus", "")),
            aggregate_status=str(entity.get("SendingStatusAggregate", "")),
            customer_managed_status=status("CustomerManagedStatus"),
            aws_managed_status=status("AwsSesManagedStatus"),
            policy=entity.get("ReputationManagementPolicy"),
            impact=entity.get("ReputationImpact"),
        )

    def suppress(self, address: str, reason: str) -> None:
        """Add ``address`` to the account-level list; ``reason`` is BOUNCE or COMPLAINT."""
        with translate("PutSuppressedDestination"):
            self._ses.put_suppressed_destination(EmailAddress=address, Reason=reason)


def _options(
    params: dict[str, Any],
    reply_to: list[str],
    configuration_set: str | None,
    feedback_address: str | None,
    tenant: str | None = None,
) -> None:
    """The optional members SendEmail and SendBulkEmail share, left out when unset."""
    if reply_to:
        params["ReplyToAddresses"] = reply_to
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    if feedback_address:
        params["FeedbackForwardingEmailAddress"] = feedback_address
    if tenant:
        # The tenant's own reputation and pause apply, and SES refuses a resource (sender
        # identity, configuration set, template) not associated with it
        # (https://docs.aws.amazon.com/ses/latest/dg/tenants.html).
        params["TenantName"] = tenant


def missing_template(err: AwsError) -> TemplateNotFound:
    """The same error (and advice) as a send naming a template that does not exist."""
    return TemplateNotFound(
        f"{err} (create the template (courrier template push) or fix its name)",
        code=err.code,
        aws_message=err.aws_message,
        operation=err.operation,
        status=err.status,
    )
