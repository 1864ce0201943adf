"""What the two SES wire adapters share: action registries, fault codes, pages, envelopes.

An action is a function ``(service, caller, params) -> result`` over botocore-shaped
``params``; each adapter only parses its protocol into ``params`` and writes the result back.
Where v1 and v2 name an action's members alike, :func:`both` registers one function for the
two APIs; where they differ, each adapter names the members and calls the same service and
:mod:`courrier_sandbox.ses.sending` code. Adding an action is one function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.pagination import page
from courrier_sandbox.ses.sending import Envelope, tags, test_render
from courrier_sandbox.ses.service import Caller, SesService

Handler = Callable[[SesService, Caller, dict[str, Any]], dict[str, Any]]


@dataclass
class Reply:
    status: int
    body: bytes
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class Api:
    """One SES API: its name, its actions, and how it spells the shared things."""

    name: str  # "v1" | "v2"
    codes: Mapping[str, str]  # SesFault kind -> wire error code
    page_size: str  # "MaxItems" | "PageSize"
    source: str  # "Source" | "FromEmailAddress"
    feedback_address: str  # "ReturnPath" | "FeedbackForwardingEmailAddress"
    handlers: dict[str, Handler]
    #: The code of a fault kind missing from ``codes``; None: the kind itself.
    default_code: str | None = None

    def action(self, name: str) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            self.handlers[name] = function
            return function

        return register

    def run(
        self, name: str, service: SesService, caller: Caller, params: dict[str, Any]
    ) -> tuple[dict[str, Any], Callable[[], None] | None]:
        """The action's result and what to run once the answer is sent; SesFault passes."""
        result = self.handlers[name](service, caller, params)
        after = result.pop("__after__", None)
        return result, after

    def code(self, fault: SesFault) -> str:
        return self.codes.get(fault.kind, self.default_code or fault.kind)

    def page(
        self,
        params: Mapping[str, Any],
        items: list[Any],
        key: Callable[[Any], str],
        operation: str,
        *,
        token_fault: str = "InvalidNextToken",
    ) -> tuple[list[Any], str | None]:
        return page(
            items,
            key,
            api=self.name,
            operation=operation,
            size=params.get(self.page_size),
            token=params.get("NextToken"),
            size_name=self.page_size,
            token_fault=token_fault,
        )

    def envelope(
        self, params: Mapping[str, Any], destination: Mapping[str, Any] | None, tag_key: str
    ) -> Envelope:
        return Envelope.of(
            params.get(self.source) or "",
            destination,
            reply_to=params.get("ReplyToAddresses", []),
            tags=tags(params.get(tag_key)),
            configuration_set=params.get("ConfigurationSetName"),
            feedback_address=params.get(self.feedback_address),
        )


#: SesFault kinds as each API names them on the wire (docs/ses.md#send-errors); botocore's models
#: give the v1 codes (``TemplateDoesNotExist``, ...) and v2's exception names.
V1 = Api(
    name="v1",
    codes={
        "InvalidParameter": "InvalidParameterValue",
        "MessageRejected": "MessageRejected",
        "DuplicateHeader": "MessageRejected",
        "Throttling": "Throttling",
        "DailyQuota": "Throttling",
        "AccountPaused": "AccountSendingPausedException",
        "ConfigSetPaused": "ConfigurationSetSendingPausedException",
        "ConfigSetMissing": "ConfigurationSetDoesNotExist",
        "ConfigSetExists": "ConfigurationSetAlreadyExists",
        "DestinationExists": "EventDestinationAlreadyExists",
        "DestinationMissing": "EventDestinationDoesNotExist",
        "InvalidSnsDestination": "InvalidSNSDestination",
        "NotFound": "InvalidParameterValue",
        "AlreadyExists": "AlreadyExists",
        "LimitExceeded": "LimitExceeded",
        "NotAllowedInSandbox": "InvalidParameterValue",
        "Validation": "ValidationError",
        "InvalidNextToken": "InvalidParameterValue",
        "TemplateMissing": "TemplateDoesNotExist",
        "TemplateExists": "AlreadyExists",
        "MailFromNotVerified": "MailFromDomainNotVerifiedException",
        "TrackingOptionsExist": "TrackingOptionsAlreadyExistsException",
        "TrackingOptionsMissing": "TrackingOptionsDoesNotExistException",
        "InvalidTrackingOptions": "InvalidTrackingOptions",
        "InvalidDeliveryOptions": "InvalidDeliveryOptions",
        # A raw message naming a tenant in X-SES-TENANT (v1 has no TenantName member).
        "TenantMissing": "InvalidParameterValue",
        "TenantPaused": "MessageRejected",
        "TenantResourceNotAssociated": "InvalidParameterValue",
    },
    page_size="MaxItems",
    source="Source",
    feedback_address="ReturnPath",
    handlers={},
)
V2 = Api(
    name="v2",
    codes={
        "InvalidParameter": "BadRequestException",
        "MissingParameter": "BadRequestException",
        "MessageRejected": "MessageRejected",
        "DuplicateHeader": "MessageRejected",
        "Throttling": "TooManyRequestsException",
        # Which v2 error carries the daily quota is not documented (docs/ses.md#send-errors); the
        # sandbox uses the throttling one, as v1 does, and clients match on the text as well.
        "DailyQuota": "TooManyRequestsException",
        "AccountPaused": "SendingPausedException",
        "ConfigSetPaused": "SendingPausedException",
        "ConfigSetMissing": "NotFoundException",
        "ConfigSetExists": "AlreadyExistsException",
        "DestinationExists": "AlreadyExistsException",
        "DestinationMissing": "NotFoundException",
        "InvalidSnsDestination": "BadRequestException",
        "NotFound": "NotFoundException",
        "AlreadyExists": "AlreadyExistsException",
        "LimitExceeded": "LimitExceededException",
        "NotAllowedInSandbox": "BadRequestException",
        "Validation": "BadRequestException",
        "InvalidNextToken": "InvalidNextTokenException",
        "TemplateMissing": "NotFoundException",
        "TemplateExists": "AlreadyExistsException",
        "InvalidTemplate": "BadRequestException",
        "MissingRenderingAttribute": "BadRequestException",
        "InvalidRenderingParameter": "BadRequestException",
        "MailFromNotVerified": "MailFromDomainNotVerifiedException",
        "TrackingOptionsExist": "AlreadyExistsException",
        "TrackingOptionsMissing": "NotFoundException",
        "InvalidTrackingOptions": "BadRequestException",
        "InvalidDeliveryOptions": "NotFoundException",
        # A send through a tenant (ses.tenants.check_tenant says why these codes).
        "TenantMissing": "NotFoundException",
        "TenantPaused": "SendingPausedException",
        "TenantResourceNotAssociated": "BadRequestException",
    },
    page_size="PageSize",
    source="FromEmailAddress",
    feedback_address="FeedbackForwardingEmailAddress",
    handlers={},
    default_code="BadRequestException",
)


def both(v1: str, v2: str) -> Callable[[Handler], Handler]:
    """One action for the two APIs, where they name its members alike."""

    def register(function: Handler) -> Handler:
        V1.handlers[v1] = function
        V2.handlers[v2] = function
        return function

    return register


# ------------------------------------------------------------ the same in both APIs


@both("DeleteConfigurationSet", "DeleteConfigurationSet")
def _delete_set(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_configuration_set(caller, p["ConfigurationSetName"])
    return {}


@both("DeleteConfigurationSetEventDestination", "DeleteConfigurationSetEventDestination")
def _delete_destination(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    svc.delete_event_destination(caller, p["ConfigurationSetName"], p["EventDestinationName"])
    return {}


@both("TestRenderTemplate", "TestRenderEmailTemplate")
def _test_render(svc: SesService, caller: Caller, p: dict[str, Any]) -> dict[str, Any]:
    template = svc.template(caller, p["TemplateName"])
    return {"RenderedTemplate": test_render(template, p["TemplateData"])}
