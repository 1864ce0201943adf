"""The sandbox's SES: one object shared by the v1 (query) and v2 (REST) wire adapters.

Errors are raised as :class:`SesFault` with a protocol-neutral ``kind``; each adapter maps
kinds to its own wire codes (v1 ``Throttling`` vs v2 ``TooManyRequestsException``, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from courrier.sandbox.faults import SesFault
from courrier.sandbox.feedback import (
    EVENT_PUBLISHING_VALIDATED,
    FeedbackRouter,
    Origin,
    Scheduler,
)
from courrier.sandbox.mail import Mail, contains_eicar
from courrier.sandbox.mailbox import Mailbox
from courrier.sandbox.send_checks import (
    TAG_CHARS,
    check_call,
    check_content,
    check_identities,
    check_rate,
)
from courrier.sandbox.ses_state import (
    Account,
    ConfigurationSet,
    EventDestination,
    Identity,
    RegionState,
    Suppressed,
)
from courrier.sandbox.simulator import Feedback, Plan, SimulatorOptions, plan, ses_id
from courrier.sandbox.templates import Template


@dataclass(frozen=True)
class SesOptions:
    production: bool = False
    max_send_rate: float | None = None
    #: Messages accepted at once over the rate; None: ``ses_state.default_burst`` of the rate.
    max_send_burst: float | None = None
    max_24_hour_send: float | None = None
    pending_identities: bool = False
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def new_account(self) -> Account:
        # A new account starts in the SES sandbox: 200 messages a day, 1 per second (facts §3.1).
        default_rate, default_quota = (14.0, 50000.0) if self.production else (1.0, 200.0)
        return Account(
            production=self.production,
            max_send_rate=self.max_send_rate if self.max_send_rate is not None else default_rate,
            max_24_hour_send=(
                self.max_24_hour_send if self.max_24_hour_send is not None else default_quota
            ),
            max_send_burst=self.max_send_burst,
        )


@dataclass(frozen=True)
class Accepted:
    message_id: str
    release: Callable[[], None]


@dataclass(frozen=True)
class Caller:
    account: str
    region: str
    api: str  # "v1" | "v2"
    identity: str = "sandbox-user"
    source_ip: str = "127.0.0.1"

    @property
    def origin(self) -> Origin:
        return Origin(self.account, self.region)


class SesService:
    def __init__(
        self,
        options: SesOptions,
        router_factory: Callable[[threading.RLock, Callable[[], None]], FeedbackRouter],
        mailbox: Mailbox,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.regions: dict[tuple[str, str], RegionState] = {}
        self.mailbox = mailbox
        self._on_change = on_change
        self.router = router_factory(self.lock, self.changed)
        self.scheduler = Scheduler()

    def changed(self) -> None:
        self._on_change()

    def state(self, caller: Caller) -> RegionState:
        key = (caller.account, caller.region)
        with self.lock:
            if key not in self.regions:
                self.regions[key] = RegionState(account=self.options.new_account())
            return self.regions[key]

    # ------------------------------------------------------------------ identities

    def verify_identity(self, caller: Caller, name: str) -> Identity:
        name = _identity_name(name)
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

    def create_identity(self, caller: Caller, name: str) -> Identity:
        if self.find_identity(caller, name) is not None:
            raise SesFault("AlreadyExists", f"Email identity {name} already exist.")
        return self.verify_identity(caller, name)

    def find_identity(self, caller: Caller, name: str) -> Identity | None:
        with self.lock:
            return self.state(caller).identities.get(_identity_name(name))

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
            self.state(caller).identities.pop(_identity_name(name), None)
        self.changed()

    def mark_verified(self, account: str, region: str, name: str) -> bool:
        with self.lock:
            state = self.regions.get((account, region))
            found = state.identities.get(_identity_name(name)) if state else None
            if found is None:
                return False
            found.status = "Success"
        self.changed()
        return True

    def set_notification_topic(
        self, caller: Caller, name: str, notification_type: str, topic: str | None
    ) -> None:
        identity = self.identity(caller, name)
        if topic:
            # SES checks it can publish by publishing its setup message (facts §1.1).
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
        identity = self.identity(caller, name)
        with self.lock:
            identity.forwarding_enabled = enabled
        self.changed()

    def set_headers_in_notifications(
        self, caller: Caller, name: str, notification_type: str, enabled: bool
    ) -> None:
        identity = self.identity(caller, name)
        with self.lock:
            identity.headers_in_notifications[notification_type] = enabled
        self.changed()

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

    # ------------------------------------------------------------ configuration sets

    def create_configuration_set(self, caller: Caller, name: str) -> None:
        if not name or len(name) > 64 or not set(name) <= TAG_CHARS:
            raise SesFault(
                "InvalidParameter",
                f"Invalid configuration set name <{name}>: only ASCII letters, digits, "
                "underscores and dashes, at most 64 characters.",
            )
        with self.lock:
            sets = self.state(caller).configuration_sets
            if name in sets:
                raise SesFault("ConfigSetExists", f"Configuration set <{name}> already exists.")
            sets[name] = ConfigurationSet(name=name)
        self.changed()

    def configuration_set(self, caller: Caller, name: str) -> ConfigurationSet:
        with self.lock:
            found = self.state(caller).configuration_sets.get(name)
        if found is None:
            raise SesFault("ConfigSetMissing", f"Configuration set <{name}> does not exist.")
        return found

    def delete_configuration_set(self, caller: Caller, name: str) -> None:
        self.configuration_set(caller, name)
        with self.lock:
            del self.state(caller).configuration_sets[name]
        self.changed()

    def put_event_destination(
        self, caller: Caller, set_name: str, destination: EventDestination, *, create: bool
    ) -> None:
        config = self.configuration_set(caller, set_name)
        exists = destination.name in config.destinations
        if create and exists:
            raise SesFault(
                "DestinationExists", f"Event destination {destination.name} already exists."
            )
        if not create and not exists:
            raise SesFault(
                "DestinationMissing", f"Event destination {destination.name} does not exist."
            )
        if create and len(config.destinations) >= 10:
            raise SesFault("LimitExceeded", "Maximum of 10 event destinations reached.")
        if destination.sns_topic_arn and create:
            published = self.router.sns.publish_as_ses(
                account=caller.account,
                region=caller.region,
                topic_arn=destination.sns_topic_arn,
                source_arn=caller.origin.arn("configuration-set", set_name),
                message=EVENT_PUBLISHING_VALIDATED,
                subject=None,
            )
            if published is None:
                raise SesFault(
                    "InvalidParameter",
                    f"Could not publish to SNS topic {destination.sns_topic_arn}.",
                )
        with self.lock:
            config.destinations[destination.name] = destination
        self.changed()

    def delete_event_destination(self, caller: Caller, set_name: str, name: str) -> None:
        config = self.configuration_set(caller, set_name)
        with self.lock:
            if config.destinations.pop(name, None) is None:
                raise SesFault("DestinationMissing", f"Event destination {name} does not exist.")
        self.changed()

    def set_configuration_set_sending(self, caller: Caller, name: str, enabled: bool) -> None:
        config = self.configuration_set(caller, name)
        with self.lock:
            config.sending_enabled = enabled
        self.changed()

    # ------------------------------------------------------------------ templates

    def put_template(self, caller: Caller, template: Template, *, create: bool) -> None:
        template.check()
        with self.lock:
            templates = self.state(caller).templates
            existing = templates.get(template.name)
            if create and existing is not None:
                raise SesFault("TemplateExists", f"Template {template.name} already exists.")
            if not create:
                if existing is None:
                    raise SesFault("TemplateMissing", f"Template {template.name} does not exist.")
                template.created = existing.created
            templates[template.name] = template
        self.changed()

    def template(self, caller: Caller, name: str) -> Template:
        with self.lock:
            found = self.state(caller).templates.get(name)
        if found is None:
            raise SesFault("TemplateMissing", f"Template {name} does not exist.")
        return found

    def templates(self, caller: Caller) -> list[Template]:
        with self.lock:
            return list(self.state(caller).templates.values())

    def delete_template(self, caller: Caller, name: str, *, missing_ok: bool) -> None:
        with self.lock:
            removed = self.state(caller).templates.pop(name, None)
        if removed is None and not missing_ok:
            raise SesFault("TemplateMissing", f"Template {name} does not exist.")
        self.changed()

    # ------------------------------------------------------------- account and list

    def account(self, caller: Caller) -> tuple[Account, float]:
        with self.lock:
            state = self.state(caller)
            state.prune(time.time())
            return state.account, float(state.daily_total)

    def update_account(self, caller: Caller, **changes: Any) -> None:
        with self.lock:
            account = self.state(caller).account
            for key, value in changes.items():
                setattr(account, key, value)
        self.changed()

    def put_suppressed(
        self,
        caller: Caller,
        address: str,
        reason: str,
        *,
        message_id: str | None = None,
        feedback_id: str | None = None,
    ) -> None:
        if reason not in ("BOUNCE", "COMPLAINT"):
            raise SesFault("InvalidParameter", f"Invalid reason {reason}.")
        with self.lock:
            self.state(caller).suppressed[address.lower()] = Suppressed(
                address.lower(), reason, time.time(), message_id, feedback_id
            )
        self.changed()

    def suppressed(self, caller: Caller, address: str) -> Suppressed:
        with self.lock:
            found = self.state(caller).suppressed.get(address.lower())
        if found is None:
            raise SesFault(
                "NotFound", f"Email address {address} does not exist on your suppression list."
            )
        return found

    def suppressed_list(self, caller: Caller, reasons: list[str] | None) -> list[Suppressed]:
        with self.lock:
            return [
                s
                for s in self.state(caller).suppressed.values()
                if not reasons or s.reason in reasons
            ]

    def delete_suppressed(self, caller: Caller, address: str) -> None:
        self.suppressed(caller, address)
        with self.lock:
            del self.state(caller).suppressed[address.lower()]
        self.changed()

    # ------------------------------------------------------------------------ send

    def send(self, caller: Caller, mail: Mail) -> Accepted:
        """Validate as SES does and accept.

        The feedback is scheduled by ``Accepted.release``, which the wire adapter calls once
        the response has been written: SES feedback never precedes the send's answer.
        """
        state = self.state(caller)
        check_content(caller.api, mail)
        with self.lock:
            account = state.account
            check_call(state, mail.configuration_set)
            check_identities(caller.region, state, mail)
            check_rate(state, mail)
            mail.message_id = ses_id()
            mail.timestamp = time.time()
            mail.caller = caller.identity
            mail.source_ip = caller.source_ip
            suppressed = {
                address
                for address in mail.destinations
                if (entry := state.suppressed.get(address.lower())) is not None
                and entry.reason in account.suppressed_reasons
            }
        if mail.rendering_failure is not None:
            # Accepted, then not sent: one Rendering Failure event (facts §2.2, §11).
            template_name, error = mail.rendering_failure
            failure = {"templateName": template_name, "errorMessage": error}
            delay = self.options.simulator.delay
            outcome = Plan(feedback=[Feedback("Rendering Failure", failure, delay)])
        else:
            outcome = plan(
                recipients=mail.destinations,
                now=mail.timestamp,
                has_virus=contains_eicar(mail.parsed()),
                account_suppressed=lambda address: address in suppressed,
                options=self.options.simulator,
            )
        origin = caller.origin
        fulfil = self.scheduler.promise()

        def release() -> None:
            fulfil(lambda: self.router.deliver_plan(state, origin, mail, outcome, self.scheduler))

        return Accepted(mail.message_id, release)


def _identity_name(name: str) -> str:
    local, at, domain = name.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else domain.lower()
