"""botocore exceptions -> courrier's exception tree, with what to do about each."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from courrier import errors

_QUOTA = "daily message quota exceeded"
_CREDENTIALS_ADVICE = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


def region_advice() -> str:
    """Where a region can come from; boto3 reads AWS_DEFAULT_REGION, not AWS_REGION
    (docs/ses.md#sending-at-volume)."""
    advice = (
        "set AWS_DEFAULT_REGION, a region in the AWS profile (region = ... in ~/.aws/config), "
        "or courrier's region setting (COURRIER_REGION, or region in courrier.toml)"
    )
    if os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        advice += "; AWS_REGION is set, but boto3 does not read it"
    return advice


#: Codes that mean "not now" rather than "not this": the same call may succeed later.
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMS.ThrottlingException",
    }
)


def _retryable(code: str, text: str, status: object) -> bool:
    if _QUOTA in text.lower():
        return False  # a day's quota does not come back with a retry
    return code in _RETRYABLE_CODES or (isinstance(status, int) and status >= 500)


# (exception class, advice) by wire code; v1 and v2 codes both appear (docs/ses.md#send-errors).
_SEND_CODES: dict[str, tuple[type[errors.SendError], str]] = {
    "Throttling": (errors.Throttled, "slow down: the account's maximum send rate was exceeded"),
    "TooManyRequestsException": (
        errors.Throttled,
        "slow down: the account's maximum send rate was exceeded",
    ),
    "MessageRejected": (errors.MessageRejected, "SES refused this message; see its reason"),
    "MailFromDomainNotVerifiedException": (
        errors.IdentityNotVerified,
        "verify the custom MAIL FROM domain in SES",
    ),
    "AccountSendingPausedException": (
        errors.SendingPaused,
        "sending is paused for the account; check the SES console "
        "(reputation) and resume with PutAccountSendingAttributes",
    ),
    "SendingPausedException": (
        errors.SendingPaused,
        "sending is paused for the account or the configuration set; "
        "check the SES console and resume it",
    ),
    "ConfigurationSetSendingPausedException": (
        errors.SendingPaused,
        "sending is paused for this configuration set; resume it",
    ),
    "AccountSuspendedException": (
        errors.SendingPaused,
        "the account's sending is permanently restricted; contact AWS",
    ),
    "ConfigurationSetDoesNotExist": (
        errors.ConfigurationSetMissing,
        "create the configuration set (courrier setup) or fix its name",
    ),
    "NotFoundException": (
        errors.ConfigurationSetMissing,
        "create the configuration set (courrier setup) or fix its name",
    ),
    "TemplateDoesNotExist": (
        errors.TemplateNotFound,
        "create the template (courrier template push) or fix its name",
    ),
    "LimitExceededException": (errors.SendError, "an SES limit was reached"),
    "BadRequestException": (errors.MessageRejected, "SES found the request invalid"),
    "InvalidParameterValue": (errors.MessageRejected, "SES found a parameter invalid"),
}


_TENANT_CODES: dict[str, tuple[type[errors.SendError], str]] = {
    "SendingPausedException": (
        errors.TenantPaused,
        "SES paused this tenant: see courrier stats --tenant, and its reputation entity",
    ),
    "NotFoundException": (errors.TenantNotReady, "create it (courrier tenant create)"),
    "BadRequestException": (
        errors.TenantNotReady,
        "associate the resource with the tenant (courrier tenant create)",
    ),
}


def _parts(err: ClientError) -> tuple[str, str, Any]:
    """The code, message and HTTP status of an AWS error answer."""
    error = err.response.get("Error", {})
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code", "")), str(error.get("Message", "")), status


def _aws_error(
    err: ClientError,
    operation: str,
    kind: type[errors.AwsError] = errors.AwsError,
    advice: str | None = None,
) -> errors.AwsError:
    """``kind`` for an AWS error answer, its code, message and status kept."""
    code, text, status = _parts(err)
    return kind(
        f"{operation}: {code}: {text}" + (f" ({advice})" if advice else ""),
        code=code,
        aws_message=text,
        operation=operation,
        status=status,
        retryable=_retryable(code, text, status),
    )


def _send_error(err: ClientError, operation: str) -> errors.AwsError:
    code, text, _ = _parts(err)
    kind, advice = _SEND_CODES.get(code, (errors.SendError, "see the AWS error"))
    if _QUOTA in text.lower():
        kind, advice = (
            errors.DailyQuotaExceeded,
            "the 24-hour sending quota is used up: wait, or ask AWS for more",
        )
    elif "tenant" in text.lower() and code in _TENANT_CODES:
        # AWS documents no codes of their own for tenant refusals: the message names the
        # tenant (https://docs.aws.amazon.com/ses/latest/dg/tenants.html#resource-association).
        kind, advice = _TENANT_CODES[code]
    elif code == "NotFoundException" and text.lower().startswith("template"):
        # v2 answers a missing template and a missing configuration set with the same code.
        kind, advice = (
            errors.TemplateNotFound,
            "create the template (courrier template push) or fix its name",
        )
    elif code == "NotFoundException" and ("list" in text.lower() or "topic" in text.lower()):
        # ListManagementOptions naming a contact list or topic that does not exist.
        kind, advice = (
            errors.ContactListMissing,
            "create the contact list and topic (courrier setup) or fix "
            "unsubscribe_contact_list / unsubscribe_topic",
        )
    elif code == "MessageRejected" and "not verified" in text:
        kind, advice = (
            errors.IdentityNotVerified,
            "verify the sender (and, in the SES sandbox, every recipient)",
        )
    return _aws_error(err, operation, kind, advice)


@contextmanager
def translate(operation: str, *, sending: bool = False) -> Iterator[None]:
    """Run a boto3 call; re-raise its failure as a courrier error (``raise ... from err``).

    With ``sending=True`` SES refusals become :class:`~courrier.errors.SendError` subclasses
    and a lost answer becomes :class:`~courrier.errors.OutcomeUnknown`.
    """
    try:
        yield
    except ClientError as err:
        raise (_send_error(err, operation) if sending else _aws_error(err, operation)) from err
    except NoRegionError as err:
        raise errors.ConfigurationError(f"{operation}: {err} ({region_advice()})") from err
    except (NoCredentialsError, PartialCredentialsError) as err:
        raise errors.ConfigurationError(f"{operation}: {err} ({_CREDENTIALS_ADVICE})") from err
    except (EndpointConnectionError, ConnectTimeoutError) as err:
        # The connection was never made: nothing reached AWS, a retry is safe.
        raise errors.AwsUnreachable(f"{operation}: {err}", operation=operation) from err
    except (ReadTimeoutError, ConnectionClosedError) as err:
        if sending:
            raise errors.OutcomeUnknown(
                f"{operation}: no answer from AWS ({err}); the message may have been sent",
                operation=operation,
            ) from err
        raise errors.AwsError(
            f"{operation}: no answer from AWS ({err}); the request may have been carried out",
            operation=operation,
            retryable=True,
        ) from err
    except BotoCoreError as err:
        raise errors.AwsError(f"{operation}: {err}", operation=operation) from err
