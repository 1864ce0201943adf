"""The checks SES makes before it accepts a send, in the order the sandbox applies them.

Texts and codes: docs/ses.md#sandbox-account (identities, sandbox), #send-errors (errors), #limits
(limits), #addresses (addresses)."""

from __future__ import annotations

import email.utils
import time
from email.message import Message

from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.state import RegionState
from courrier_sandbox.simulation.mail import Mail, bare_address
from courrier_sandbox.simulation.outgoing import default_mail_from
from courrier_sandbox.simulation.simulator import simulator_case

V1_MAX_BYTES = 10 * 1024 * 1024
V2_MAX_BYTES = 40 * 1024 * 1024
MAX_RECIPIENTS = 50
TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def check_content(api: str, mail: Mail) -> None:
    if not mail.destinations:
        raise SesFault("MessageRejected", "There are no recipients specified.")
    if len(mail.destinations) > MAX_RECIPIENTS:
        # v1 answers InvalidParameterValue here, not MessageRejected (as SDKs report it).
        raise SesFault("InvalidParameter", f"Recipient count exceeds {MAX_RECIPIENTS}.")
    for address in [mail.source, *mail.destinations]:
        check_address(address)
    limit = V1_MAX_BYTES if api == "v1" else V2_MAX_BYTES
    if len(mail.raw) > limit:
        raise SesFault(
            "MessageRejected",
            f"Message length is more than {limit} bytes long: '{len(mail.raw)}'.",
        )
    for name, value in mail.tags.items():
        for part in (name, value):
            if not part or len(part) > 256 or not set(part) <= TAG_CHARS:
                raise SesFault(
                    "InvalidParameter",
                    f"Invalid tag {name}={value}: tag names and values may only "
                    "contain ASCII letters, digits, underscores and dashes.",
                )


#: The fields that may appear only once in a message's header section
#: (https://docs.aws.amazon.com/ses/latest/dg/header-fields.html); To, Cc and Bcc are not
#: among them.
SINGLE_HEADERS = frozenset(
    name.lower()
    for name in [
        "Accept-Language",
        "acceptLanguage",
        "Archived-At",
        "Auto-Submitted",
        "Bounces-to",
        "Comments",
        "Content-Alternative",
        "Content-Base",
        "Content-Class",
        "Content-Description",
        "Content-Disposition",
        "Content-Duration",
        "Content-ID",
        "Content-Language",
        "Content-Length",
        "Content-Location",
        "Content-MD5",
        "Content-Transfer-Encoding",
        "Content-Type",
        "Date",
        "Delivered-To",
        "Disposition-Notification-Options",
        "Disposition-Notification-To",
        "DKIM-Signature",
        "DomainKey-Signature",
        "Errors-To",
        "From",
        "Importance",
        "In-Reply-To",
        "Keywords",
        "List-Archive",
        "List-Help",
        "List-Id",
        "List-Owner",
        "List-Post",
        "List-Subscribe",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Message-Context",
        "Message-ID",
        "MIME-Version",
        "Organization",
        "Original-From",
        "Original-Message-ID",
        "Original-Recipient",
        "Original-Subject",
        "Precedence",
        "Priority",
        "References",
        "Reply-To",
        "Return-Path",
        "Return-Receipt-To",
        "Sender",
        "Solicitation",
        "Sensitivity",
        "Subject",
        "Thread-Index",
        "Thread-Topic",
        "User-Agent",
        "VBR-Info",
    ]
)


def check_single_headers(message: Message) -> None:
    """Refuse a raw message that repeats a field SES allows once (``DuplicateHeader``: the
    API's MessageRejected, SMTP's "554 Transaction failed")."""
    seen: set[str] = set()
    for name in message:
        key = name.lower()
        if key in seen and key in SINGLE_HEADERS:
            raise SesFault("DuplicateHeader", f"Duplicate header '{name}'.")
        seen.add(key)


def check_call(state: RegionState, set_name: str | None) -> None:
    """What concerns the whole call: the account and the configuration set."""
    if not state.account.sending_enabled:
        raise SesFault("AccountPaused", "Sending paused for this account.")
    if set_name:
        config = state.configuration_sets.get(set_name)
        if config is None:
            raise SesFault("ConfigSetMissing", f"Configuration set <{set_name}> does not exist.")
        if not config.sending_enabled:
            raise SesFault("ConfigSetPaused", "Sending paused for this configuration set.")


def check_senders(region: str, state: RegionState, mail: Mail) -> None:
    _refuse_unverified(region, _unverified_senders(state, mail))


def check_identities(region: str, state: RegionState, mail: Mail) -> None:
    failed = _unverified_senders(state, mail)
    if not state.account.production:
        failed += [
            r for r in mail.destinations if simulator_case(r) is None and not state.is_verified(r)
        ]
    _refuse_unverified(region, failed)


def check_mail_from(region: str, state: RegionState, mail: Mail) -> str:
    """The MAIL FROM domain SES sends ``mail`` from, or its refusal.

    An address's own custom MAIL FROM setting wins over its domain's. Until its MX record
    is found the domain is not used: SES falls back to its own (``UseDefaultValue``) or
    refuses the send (``RejectMessage``, botocore's models).
    """
    for identity in state.identities_for(bare_address(mail.source)):
        if not identity.mail_from_domain:
            continue
        if identity.mail_from_status == "Success":
            return identity.mail_from_domain
        if identity.mail_from_behavior == "RejectMessage":
            raise SesFault("MailFromNotVerified", "Mail FROM domain is not verified.")
        break
    return default_mail_from(region)


#: Headers whose addresses SES checks as it checks the source: every identity a message is
#: sent as must be verified ("Email address is not verified",
#: https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html).
SENDER_HEADERS = ("From", "Sender", "Return-Path")


def _unverified_senders(state: RegionState, mail: Mail) -> list[str]:
    senders = [bare_address(mail.source)]
    if mail.feedback_address:
        senders.append(bare_address(mail.feedback_address))
    if mail.raw:
        senders += _header_senders(mail)
    failed: dict[str, str] = {}
    for sender in senders:
        if sender and not state.is_verified(sender):
            failed.setdefault(sender.lower(), sender)
    return list(failed.values())


def _header_senders(mail: Mail) -> list[str]:
    parsed = mail.parsed()
    values = [str(v) for name in SENDER_HEADERS for v in parsed.get_all(name) or []]
    return [address for _, address in email.utils.getaddresses(values) if address]


def _refuse_unverified(region: str, failed: list[str]) -> None:
    if failed:
        # The real text upper-cases the region and lists every failing identity
        # (docs/ses.md#sandbox-account).
        raise SesFault(
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in "
            f"region {region.upper()}: {', '.join(failed)}",
        )


def check_rate(state: RegionState, mail: Mail) -> None:
    now = time.time()
    state.prune(now)
    count = len(mail.destinations)
    account = state.account
    # A token bucket: it refills at the send rate up to the burst size
    # (docs/ses.md#sending-at-volume: short bursts over the rate are accepted, a sustained rate over
    # it is not).
    tokens, refilled = state.bucket or (account.burst, now)
    tokens = min(account.burst, tokens + (now - refilled) * account.max_send_rate)
    # A full bucket takes any one message, even one with more recipients than it holds; the
    # bucket then owes them, so the long-run rate stays the account's.
    if count > tokens and tokens < account.burst:
        state.bucket = (tokens, now)
        state.throttled += 1
        raise SesFault("Throttling", "Maximum sending rate exceeded.")
    # Simulator mail counts toward the rate but not the daily quota (docs/ses.md#mailbox-simulator).
    quota_count = sum(1 for r in mail.destinations if simulator_case(r) is None)
    limit = state.account.max_24_hour_send
    if limit >= 0 and quota_count and state.daily_total + quota_count > limit:
        raise SesFault("DailyQuota", "Daily message quota exceeded.")
    state.bucket = (tokens - count, now)
    if quota_count:
        state.daily.append((now, quota_count))
        state.daily_total += quota_count


def check_address(address: str) -> None:
    bare = bare_address(address)
    local, at, domain = bare.rpartition("@")
    if not at or not domain:
        raise SesFault("InvalidParameter", "Missing final '@domain'")
    if not local:
        raise SesFault("InvalidParameter", "Missing local name")
    if not address.isascii():
        # SES has no SMTPUTF8: domains must be Punycode, display names RFC 2047
        # (docs/ses.md#addresses).
        where = (
            "Local address"
            if not local.isascii()
            else ("Domain" if not domain.isascii() else "Display name")
        )
        raise SesFault("InvalidParameter", f"{where} contains illegal character")
    if any(ch.isspace() or ord(ch) < 32 for ch in bare):
        raise SesFault("InvalidParameter", "Local address contains control or whitespace")
