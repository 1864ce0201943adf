"""Identities: verification, notification topics, default configuration set, MAIL FROM."""

from __future__ import annotations

import re
import string
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from courrier_sandbox.ses.core import Caller, SesCore
from courrier_sandbox.ses.faults import SesFault
from courrier_sandbox.ses.state import Identity, RegionState
from courrier_sandbox.ses.tenants import refuse_if_associated
from courrier_sandbox.simulation.mail import bare_address

MAIL_FROM_BEHAVIORS = ("UseDefaultValue", "RejectMessage")


class IdentityMethods(SesCore):
    def verify_identity(self, caller: Caller, name: str, kind: str | None = None) -> Identity:
        name = checked_identity_name(name, kind)
        with self.lock:
            state = self.state(caller)
            identity = state.identities.get(name)
            if identity is None:
                identity = Identity.new(name, pending=self.options.pending_identities)
                state.identities[name] = identity
        if identity.status == "Pending" and identity.kind == "EmailAddress":
            self._send_verification_letter(identity)
        self.changed()
        return identity

    def create_identity(
        self,
        caller: Caller,
        name: str,
        *,
        tags: dict[str, str] | None = None,
        configuration_set: str | None = None,
    ) -> Identity:
        if self.find_identity(caller, name) is not None:
            raise SesFault("AlreadyExists", f"Email identity {name} already exist.")
        if configuration_set:
            self._existing_set(caller, configuration_set)
        identity = self.verify_identity(caller, name)
        with self.lock:
            identity.tags = dict(tags or {})
            identity.configuration_set = configuration_set
        self.changed()
        return identity

    def find_identity(self, caller: Caller, name: str) -> Identity | None:
        with self.lock:
            return self.state(caller).identities.get(identity_name(name))

    def identity(self, caller: Caller, name: str) -> Identity:
        identity = self.find_identity(caller, name)
        if identity is None:
            raise SesFault("NotFound", f"Email identity {name} does not exist.")
        return identity

    def identities(self, caller: Caller, kind: str | None = None) -> list[Identity]:
        with self.lock:
            return [
                i for i in self.state(caller).identities.values() if kind is None or i.kind == kind
            ]

    def delete_identity(self, caller: Caller, name: str) -> None:
        with self.lock:
            state = self.state(caller)
            if identity_name(name) in state.identities:
                refuse_if_associated(
                    caller.region, caller.account, state, "identity", identity_name(name)
                )
            state.identities.pop(identity_name(name), None)
        self.changed()

    def mark_verified(self, account: str, region: str, name: str) -> bool:
        return self._mark(account, region, name, "status")

    def _mark(self, account: str, region: str, name: str, attribute: str) -> bool:
        with self.lock:
            state = self.existing_state(account, region)
            found = state.identities.get(identity_name(name)) if state else None
            if found is None or (attribute == "mail_from_status" and not found.mail_from_domain):
                return False
            setattr(found, attribute, "Success")
        self.changed()
        return True

    def dkim_of(self, caller: Caller, identity: Identity) -> tuple[Identity, bool]:
        """The identity whose DKIM signs for ``identity``, and whether it signs.

        An address under a domain with DKIM is signed with the domain's keys: SES reports
        the domain's DKIM status and tokens for it (GetIdentityDkimAttributes, botocore).
        """
        if identity.kind == "Domain":
            return identity, identity.dkim_enabled
        with self.lock:
            domain = self.state(caller).identities.get(identity.name.rpartition("@")[2].lower())
        if domain is not None and domain.dkim_enabled:
            return domain, True
        return identity, False

    # ---------------------------------------------------------------- notifications

    def set_notification_topic(
        self, caller: Caller, name: str, notification_type: str, topic: str | None
    ) -> None:
        identity = self.identity(caller, name)
        if topic:
            # SES checks it can publish by publishing its setup message (docs/ses.md#notifications).
            message = (
                '{"notificationType":"AmazonSnsSubscriptionSucceeded","message":"You have '
                f"successfully subscribed your Amazon SNS topic '{topic}' to receive "
                f"'{notification_type}' notifications from Amazon SES for identity "
                f"'{identity.name}'.\"}}"
            )
            published = self.router.sns.publish_as_ses(
                account=caller.account,
                region=caller.region,
                topic_arn=topic,
                source_arn=caller.origin.arn("identity", identity.name),
                message=message,
                subject=None,
            )
            if published is None:
                raise SesFault(
                    "InvalidParameter",
                    f"Invalid SNS topic {topic}: Amazon SES could not publish to it. Check that "
                    "the topic exists in this region and that its policy lets "
                    "ses.amazonaws.com publish.",
                )
        with self.lock:
            if topic:
                identity.topics[notification_type] = topic
            else:
                identity.topics.pop(notification_type, None)
        self.changed()

    def set_forwarding(self, caller: Caller, name: str, enabled: bool) -> None:
        self._update_identity(caller, name, forwarding_enabled=enabled)

    def set_headers_in_notifications(
        self, caller: Caller, name: str, notification_type: str, enabled: bool
    ) -> None:
        identity = self.find_identity(caller, name)
        if identity is None:
            # Not the usual missing-identity answer: AWS refuses this one as MessageRejected
            # (recorded against v1, 2025). Whether it also refuses a pending identity, as
            # the text suggests, is not recorded: the sandbox accepts one.
            raise SesFault("MessageRejected", f"Identity {name} is not verified or does not exist.")
        with self.lock:
            identity.headers_in_notifications[notification_type] = enabled
        self.changed()

    def set_identity_configuration_set(
        self, caller: Caller, name: str, configuration_set: str | None
    ) -> None:
        if configuration_set:
            self._existing_set(caller, configuration_set)
        self._update_identity(caller, name, configuration_set=configuration_set or None)

    def _update_identity(self, caller: Caller, name: str, **changes: Any) -> None:
        identity = self.identity(caller, name)
        with self.lock:
            for key, value in changes.items():
                setattr(identity, key, value)
        self.changed()

    def _existing_set(self, caller: Caller, name: str) -> None:
        with self.lock:
            if name not in self.state(caller).configuration_sets:
                raise SesFault("ConfigSetMissing", f"Configuration set <{name}> does not exist.")

    def _send_verification_letter(self, identity: Identity) -> None:
        letter = EmailMessage(policy=SMTP)
        letter["From"] = "no-reply-aws@amazon.com"
        letter["To"] = identity.name
        letter["Subject"] = "Amazon Web Services - Email Address Verification Request"
        letter.set_content(
            "To verify this address in the courrier sandbox, POST to "
            f"/_courrier/identities/{identity.name}/verify on the sandbox.\n"
        )
        self.mailbox.deliver(
            kind="verification",
            recipient=identity.name,
            sender="no-reply-aws@amazon.com",
            raw=letter.as_bytes(),
            ses_message_id="",
        )

    # ------------------------------------------------------------------ MAIL FROM

    def set_mail_from(
        self, caller: Caller, name: str, domain: str | None, behavior: str | None
    ) -> None:
        """v1 ``SetIdentityMailFromDomain`` / v2 ``PutEmailIdentityMailFromAttributes``."""
        identity = self.identity(caller, name)
        parent = identity.name.rpartition("@")[2].lower()
        domain = (domain or "").strip().lower().rstrip(".") or None
        if domain is not None and (not domain.endswith(f".{parent}") or not is_domain(domain)):
            # The MAIL FROM domain must be a subdomain of the identity (botocore's model).
            raise SesFault(
                "InvalidParameter",
                f"Invalid MAIL FROM domain <{domain}>: it must be a subdomain of {parent}.",
            )
        with self.lock:
            if domain != identity.mail_from_domain:
                # SES looks for the MX record afresh: pending until the sandbox's page says
                # the records are there.
                identity.mail_from_status = "Pending"
            identity.mail_from_domain = domain
            identity.mail_from_behavior = behavior or "UseDefaultValue"
        self.changed()

    def mark_mail_from_verified(self, account: str, region: str, name: str) -> bool:
        return self._mark(account, region, name, "mail_from_status")

    def mail_from_records(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        """What ``/_courrier/identities/ID/mail-from`` shows: the records SES asks for."""
        with self.lock:
            state = self.existing_state(account, region)
            found = state.identities.get(identity_name(name)) if state else None
            if found is None:
                return None
            domain = found.mail_from_domain
            answer: dict[str, Any] = {
                "identity": found.name,
                "mail_from_domain": domain,
                "status": found.mail_from_status if domain else None,
                "behavior_on_mx_failure": found.mail_from_behavior,
            }
        answer["records"] = (
            [
                {"type": "MX", "name": domain, "value": f"10 feedback-smtp.{region}.amazonses.com"},
                {"type": "TXT", "name": domain, "value": '"v=spf1 include:amazonses.com ~all"'},
            ]
            if domain
            else []
        )
        return answer


def default_configuration_set(state: RegionState, source: str) -> str | None:
    """The configuration set of the identity ``source`` sends as: its own, else its domain's."""
    return next(
        (
            i.configuration_set
            for i in state.identities_for(bare_address(source))
            if i.configuration_set
        ),
        None,
    )


def sending_identity(state: RegionState, source: str) -> str:
    """The identity whose ARN is ``mail.sourceArn``: the verified one the sender is covered by.

    An address sends as itself when it is verified, else as its verified domain
    (docs/ses.md#notifications: "ARN of the identity used"; sample S1 sends from an address of a
    verified domain)."""
    address = bare_address(source)
    verified = [i.name for i in state.identities_for(address) if i.verified]
    return verified[0] if verified else address


def identity_name(name: str) -> str:
    local, at, domain = name.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else domain.lower()


def checked_identity_name(name: str, kind: str | None = None) -> str:
    """``name`` as an identity of ``kind`` ("EmailAddress" or "Domain", None: either), or SES's
    refusal (v1 InvalidParameterValue, v2 BadRequestException)."""
    bare = name.strip()
    local, at, domain = bare.rpartition("@")
    if kind is not None and kind != ("EmailAddress" if at else "Domain"):
        noun = "email address" if kind == "EmailAddress" else "domain"
        raise SesFault("InvalidParameter", f"Invalid {noun} <{name}>.")
    problem = _identity_problem(local, at, domain)
    if problem:
        noun = "email address" if at else "domain"
        raise SesFault("InvalidParameter", f"Invalid {noun} <{name}>: {problem}")
    return identity_name(bare)


#: What marks a display name or a list around an address.
_NOT_IDENTITY = frozenset('<>"(),;')
#: RFC 5322's atext and the dots between atoms: an unquoted local part.
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~.")
#: One DNS label: letters, digits and hyphens, 1-63 of them, no hyphen at either end (RFC 1123).
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _identity_problem(local: str, at: str, domain: str) -> str | None:
    whole = f"{local}{at}{domain}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in whole):
        # The words of SES's refusal of such an address in a send (docs/ses.md#addresses).
        return f"{'Local address' if at else 'Domain'} contains control or whitespace."
    if not whole or (at and not local) or any(ch.isspace() or ch in _NOT_IDENTITY for ch in whole):
        # AWS documents no normalisation of ``Foo <foo@example.com>``.
        return "an identity is the address or domain alone, without a display name."
    if not whole.isascii():
        # SES has no SMTPUTF8: a Unicode domain is written in Punycode (docs/ses.md#addresses).
        return "SES takes ASCII only; write a Unicode domain in Punycode (xn--)."
    if at and (len(local) > 64 or not set(local) <= _LOCAL_CHARS):
        return "the part before the @ is not a local part (RFC 5321: at most 64 characters)."
    if not is_domain(domain):
        return (
            f"{domain} is not a domain name: labels of 1-63 letters, digits and hyphens, "
            "no hyphen at either end, 253 characters in all (RFC 1123)."
        )
    return None


def is_domain(domain: str) -> bool:
    """A DNS name of at least two labels, by RFC 1034 and 1123's rules for host names."""
    labels = domain.split(".")
    return (
        len(domain) <= 253 and len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)
    )
