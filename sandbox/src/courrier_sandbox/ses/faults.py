"""The sandbox's SES errors, independent of the wire protocol."""

from __future__ import annotations


class SesFault(Exception):
    """``kind`` is one of: InvalidParameter, MessageRejected, Throttling, DailyQuota,
    AccountPaused, ConfigSetPaused, ConfigSetMissing, ConfigSetExists, DestinationExists,
    DestinationMissing, InvalidSnsDestination, NotFound, AlreadyExists, LimitExceeded,
    NotAllowedInSandbox, Validation, InvalidNextToken, TemplateMissing, TemplateExists,
    InvalidTemplate, MissingRenderingAttribute, InvalidRenderingParameter, MailFromNotVerified,
    TrackingOptionsExist, TrackingOptionsMissing, InvalidTrackingOptions,
    InvalidDeliveryOptions, TenantMissing, TenantPaused, TenantResourceNotAssociated; each
    API's table in ``ses.api.actions`` names its wire code."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
