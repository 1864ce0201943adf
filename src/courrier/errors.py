"""courrier's exceptions: one tree, rooted at :class:`CourrierError`.

::

    CourrierError
    ├── ConfigurationError               settings missing or invalid (never retried)
    │   ├── MissingExtra                 an optional part's packages are not installed
    │   └── UnsubscribeRequired          a bulk send with no way to unsubscribe (RFC 8058)
    ├── InvalidMessage (ValueError)      a message that cannot be sent as given
    │   ├── InvalidAddress               bad syntax, non-ASCII local part, header injection
    │   └── MessageTooLarge
    ├── AwsError                         an AWS call failed (code, aws_message, operation,
    │   │                                retryable)
    │   ├── AwsUnreachable               nothing reached AWS (connection refused, DNS)
    │   │   └── CertificateUnavailable   an SNS signing certificate could not be downloaded
    │   │                                now: the message is kept and retried, not refused
    │   └── SendError                    SES refused or failed a send
    │       ├── Throttled                rate exceeded; retried with backoff
    │       ├── DailyQuotaExceeded
    │       ├── SendingPaused            account or configuration set paused
    │       │   └── TenantPaused         the tenant's sends paused (its reputation entity)
    │       ├── TenantNotReady           the tenant is missing or lacks an association
    │       ├── IdentityNotVerified
    │       ├── MessageRejected
    │       ├── ConfigurationSetMissing
    │       ├── ContactListMissing
    │       ├── TemplateNotFound         the template a send names does not exist
    │       └── OutcomeUnknown           the request may have reached SES; never re-sent
    ├── FeedbackError                    feedback that cannot be applied
    │   ├── UndecodableMessage (ValueError)
    │   ├── UntrustedTopic               from a topic outside the allow-list
    │   └── UntrustedSignature           SNS signature missing, malformed or not verifying
    ├── SetupIncomplete                  courrier setup failed after making some resources
    ├── ReputationGuardTripped           a bulk send refused: a rate crossed the guard's line
    │                                    (the account's, or the message's tenant's)
    ├── InvalidUnsubscribeLink (ValueError) a tampered, foreign or malformed unsubscribe link
    └── StoreError                       the database failed; the transaction rolled back
        ├── StoreUnavailable             unreachable or busy: retrying later may succeed
        ├── InvalidRecord                a value the database cannot hold: never retried
        └── StoreUnusable                read-only, deleted or replaced: stop, do not retry

Errors raised by boto3/botocore and SQLAlchemy are translated at the adapter that calls
them, with the original kept as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "AwsError",
    "AwsUnreachable",
    "CertificateUnavailable",
    "ConfigurationError",
    "ConfigurationSetMissing",
    "ContactListMissing",
    "CourrierError",
    "DailyQuotaExceeded",
    "FeedbackError",
    "IdentityNotVerified",
    "InvalidAddress",
    "InvalidMessage",
    "InvalidRecord",
    "InvalidUnsubscribeLink",
    "MessageRejected",
    "MessageTooLarge",
    "MissingExtra",
    "OutcomeUnknown",
    "ReputationGuardTripped",
    "SendError",
    "SendingPaused",
    "SetupIncomplete",
    "StoreError",
    "StoreUnavailable",
    "StoreUnusable",
    "TemplateNotFound",
    "TenantNotReady",
    "TenantPaused",
    "Throttled",
    "UndecodableMessage",
    "UnsubscribeRequired",
    "UntrustedSignature",
    "UntrustedTopic",
]


class CourrierError(Exception):
    """Root of every error courrier raises on purpose."""


class ConfigurationError(CourrierError):
    """A setting is missing or invalid; the message names the key to set."""


class MissingExtra(ConfigurationError):
    """An optional part of courrier was used without its extra; the message says what to install."""

    def __init__(self, extra: str, purpose: str, missing: str | None = None) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{purpose} needs the {extra} extra: pip install 'courrier[{extra}]'"
            + (f" (missing module: {missing})" if missing else "")
        )


class UnsubscribeRequired(ConfigurationError):
    """A bulk send was refused: it would carry no one-click unsubscribe link.

    Gmail, Yahoo and Microsoft require ``List-Unsubscribe`` and ``List-Unsubscribe-Post``
    (RFC 8058) on bulk mail. Set ``unsubscribe_url`` and ``unsubscribe_secret``,
    ``unsubscribe_contact_list`` (SES's subscription management), or
    ``unsubscribe_managed_elsewhere`` when the list is managed by another system.
    """


class SetupIncomplete(CourrierError):
    """``courrier setup`` failed after it had made or changed some resources (``made``, one
    line each); the failure is the ``__cause__``. ``settings`` are those of the part made,
    for ``courrier.toml``, so that ``courrier teardown`` can remove it."""

    def __init__(self, message: str, *, made: tuple[str, ...], settings: dict[str, str]) -> None:
        super().__init__(message)
        self.made = made
        self.settings = settings


class InvalidUnsubscribeLink(CourrierError, ValueError):
    """An unsubscribe link that courrier did not sign with its key, or that was altered."""


class InvalidMessage(CourrierError, ValueError):
    """The message cannot be sent as given; nothing was sent."""


class InvalidAddress(InvalidMessage):
    """An address is malformed, not 7-bit safe, or carries a header injection."""


class MessageTooLarge(InvalidMessage):
    """The encoded message is over the API's size limit."""


class AwsError(CourrierError):
    """An AWS call failed.

    ``code`` is the AWS error code as sent on the wire (for example ``MessageRejected``),
    ``aws_message`` its text, ``operation`` the API operation and ``status`` the HTTP status.
    ``retryable`` says whether the same call may succeed later (throttling, a server-side
    error, a lost connection) or will fail the same way until something is changed (access
    denied, a missing queue, a bad parameter).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        aws_message: str = "",
        operation: str = "",
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.aws_message = aws_message
        self.operation = operation
        self.status = status
        self.retryable = retryable


class AwsUnreachable(AwsError):
    """The request never reached AWS (connection refused, DNS failure)."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message, operation=operation, retryable=True)


class CertificateUnavailable(AwsUnreachable):
    """The SNS signing certificate could not be downloaded now: a network error, a timeout,
    or a server error at the certificate host.

    It says nothing about the message, which is neither trusted nor refused: the feedback
    worker keeps it and retries, and ``courrier receive`` answers 503 so that SNS delivers
    it again. A certificate that downloads but cannot be read is
    :class:`UntrustedSignature`.
    """


class SendError(AwsError):
    """SES did not accept a send."""


class Throttled(SendError):
    """The account's maximum send rate was exceeded."""


class DailyQuotaExceeded(SendError):
    """The account's 24-hour sending quota is used up."""


class SendingPaused(SendError):
    """Sending is paused for the account or for the configuration set."""


class TenantPaused(SendingPaused):
    """SES paused the sends of the tenant the message names (its reputation entity): the
    account's other tenants still send."""


class TenantNotReady(SendError):
    """The tenant a send names does not exist, or is not associated with the send's
    identity, configuration set or template (``courrier tenant create`` associates them)."""


class IdentityNotVerified(SendError):
    """The sender (or, in the SES sandbox, a recipient) is not a verified identity."""


class MessageRejected(SendError):
    """SES rejected the message for another reason given in ``aws_message``."""


class ConfigurationSetMissing(SendError):
    """The configuration set named in the send does not exist."""


class TemplateNotFound(SendError):
    """The SES template a templated or bulk send names does not exist in the region."""


class ContactListMissing(SendError):
    """SES knows no such contact list (or topic): ``unsubscribe_contact_list`` and
    ``unsubscribe_topic`` name one that ``courrier setup`` has not created."""


class OutcomeUnknown(SendError):
    """The request may have reached SES but no answer came back.

    The message may or may not have been sent; it is recorded as ``unknown`` and never
    re-sent automatically.
    """


class ReputationGuardTripped(CourrierError):
    """The reputation guard is tripped, so this send was refused before any call to SES.

    ``rate`` names what tripped it (``bounce_rate``, ``complaint_rate`` or ``ses_account``),
    ``value`` and ``threshold`` are the figures it was judged on (None for SES's own view).
    Nothing was sent or recorded; ``courrier guard reset`` clears the guard.
    """

    def __init__(
        self,
        message: str,
        *,
        rate: str,
        value: float | None = None,
        threshold: float | None = None,
    ) -> None:
        super().__init__(message)
        self.rate = rate
        self.value = value
        self.threshold = threshold


class StoreError(CourrierError):
    """The database failed; the operation was rolled back.

    ``ses_message_id`` is set when SES had already accepted the message whose record failed.
    """

    ses_message_id: str | None = None


class StoreUnavailable(StoreError):
    """The database could not be reached, or was busy; the same work may succeed later."""


class InvalidRecord(StoreError):
    """The database refused a value (too long, a NUL, an unpaired surrogate).

    Retrying the same data fails the same way: the feedback worker leaves such a message for
    the dead-letter queue and applies the rest of its batch.
    """


class StoreUnusable(StoreError):
    """The store cannot be written: read-only, or its SQLite file was deleted or replaced.

    Nothing written now would last; the worker stops rather than acknowledge anything more.
    """


class FeedbackError(CourrierError):
    """A feedback message cannot be applied; it is left for the dead-letter queue."""


class UndecodableMessage(FeedbackError, ValueError):
    """The body is not an SQS/SNS/SES feedback message courrier understands."""


class UntrustedTopic(FeedbackError):
    """The SNS envelope names a topic that is not on the allow-list."""


class UntrustedSignature(FeedbackError):
    """The SNS envelope's signature is missing, malformed, or does not verify."""
