"""Turns the simulator's plan into what SES publishes: SNS notifications and feedback email.

Two routes, as in SES (docs/ses.md#notifications, #event-publishing):

* identity notifications: ``notificationType`` payloads for Bounce, Complaint and Delivery,
  one topic per type, original headers only when enabled, no SNS ``Subject``;
* configuration-set event publishing: ``eventType`` payloads for every matching type, with
  headers and tags always, SNS ``Subject`` "Amazon SES Email Event Notification".

Bounces and complaints that reach no topic are mailed to the Return-Path (feedback
forwarding). Everything runs on a background thread, after the send call has returned.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any, Protocol

from courrier_sandbox.ses.state import RegionState
from courrier_sandbox.simulation import feedback_effects
from courrier_sandbox.simulation.events import Event, EventLog, now
from courrier_sandbox.simulation.mail import Mail, bare_address, common_headers, headers_of
from courrier_sandbox.simulation.mailbox import Mailbox
from courrier_sandbox.simulation.outgoing import copy_for
from courrier_sandbox.simulation.simulator import Feedback, Plan, iso

log = logging.getLogger(__name__)

EVENT_SUBJECT = "Amazon SES Email Event Notification"
#: The address the sandbox's SES delivers from, as the ``ses:outgoing-ip`` tag gives it.
OUTGOING_IP = "127.0.0.1"
EVENT_PUBLISHING_VALIDATED = "Successfully validated SNS topic for Amazon SES event publishing."
_EVENT_KEYS = {
    "Send": ("SEND", "send"),
    "Reject": ("REJECT", "reject"),
    "Bounce": ("BOUNCE", "bounce"),
    "Complaint": ("COMPLAINT", "complaint"),
    "Delivery": ("DELIVERY", "delivery"),
    "Open": ("OPEN", "open"),
    "Click": ("CLICK", "click"),
    "Rendering Failure": ("RENDERING_FAILURE", "failure"),
    "DeliveryDelay": ("DELIVERY_DELAY", "deliveryDelay"),
    "Subscription": ("SUBSCRIPTION", "subscription"),
}


class SnsPort(Protocol):
    """How the sandbox's SES reaches SNS (implemented over moto by the server)."""

    def publish_as_ses(
        self,
        *,
        account: str,
        region: str,
        topic_arn: str,
        source_arn: str,
        message: str,
        subject: str | None,
    ) -> str | None:
        """Publish as ``ses.amazonaws.com``; the SNS message id, or None when SES cannot."""

    def has_topic(self, *, region: str, topic_arn: str) -> bool:
        """Whether ``topic_arn`` names an existing topic in ``region``."""


@dataclass(frozen=True)
class Origin:
    account: str
    region: str

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:{kind}/{name}"


class Scheduler:
    """Runs jobs on one background thread at their due time."""

    def __init__(self) -> None:
        self._jobs: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._promised = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sandbox-feedback", daemon=True)
        self._thread.start()

    def schedule(self, delay: float, job: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._seq), job))
            self._cond.notify_all()

    def promise(self) -> Callable[[Callable[[], None]], None]:
        """Announce jobs that will be scheduled later; ``drain`` waits for them too.

        Returns the function that schedules them (call it exactly once).
        """
        with self._cond:
            self._promised += 1

        def fulfil(schedule_jobs: Callable[[], None]) -> None:
            try:
                schedule_jobs()
            finally:
                with self._cond:
                    self._promised -= 1
                    self._cond.notify_all()

        return fulfil

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every scheduled or promised job has run; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self._busy or self._promised:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._jobs or self._jobs[0][0] > time.monotonic()):
                    timeout = self._jobs[0][0] - time.monotonic() if self._jobs else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._jobs)
                self._busy += 1
            try:
                job()
            except Exception:  # a failing job must not stop the feedback of later sends
                log.exception("sandbox feedback job failed")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()


class FeedbackRouter:
    def __init__(
        self,
        *,
        sns: SnsPort,
        mailbox: Mailbox,
        state_lock: threading.RLock,
        on_state_change: Callable[[], None],
        events: EventLog | None = None,
    ) -> None:
        self.sns = sns
        self._mailbox = mailbox
        self._events = events or EventLog()
        self._lock = state_lock
        self._changed = on_state_change

    # ----------------------------------------------------------- one send's feedback

    def deliver_plan(
        self, state: RegionState, origin: Origin, mail: Mail, plan: Plan, scheduler: Scheduler
    ) -> None:
        for item in plan.feedback:
            scheduler.schedule(item.delay, _bind(self.publish, state, origin, mail, item))
        copies = [(r, plan.copy_delay) for r in plan.delivered] + plan.late
        for recipient, delay in copies:
            scheduler.schedule(delay, _bind(self._deliver_copy, mail, recipient))
        for recipient in plan.auto_replies:
            scheduler.schedule(plan.copy_delay, _bind(self._auto_reply, mail, recipient))

    def publish(self, state: RegionState, origin: Origin, mail: Mail, item: Feedback) -> None:
        self._events.record(
            Event(
                kind=item.kind,
                message_id=mail.message_id,
                account=origin.account,
                region=origin.region,
                source=mail.source,
                destinations=list(mail.destinations),
                configuration_set=mail.configuration_set,
                recorded_at=now(),
                body=item.body,
            )
        )
        routed = self._publish_events(state, origin, mail, item)
        if item.kind in ("Bounce", "Complaint", "Delivery"):
            routed |= self._publish_notification(state, origin, mail, item)
            if item.kind != "Delivery":
                self._forward_by_email(state, mail, item, routed=routed)
        with self._lock:
            listed = feedback_effects.record(state, mail, item)
        if listed:
            self._changed()

    def _publish_events(
        self, state: RegionState, origin: Origin, mail: Mail, item: Feedback
    ) -> bool:
        with self._lock:
            config = state.configuration_sets.get(mail.configuration_set or "")
            destinations = list(config.destinations.values()) if config else []
        upper, key = _EVENT_KEYS[item.kind]
        topics = [
            d.sns_topic_arn
            for d in destinations
            if d.enabled and upper in d.matching_types and d.sns_topic_arn is not None
        ]
        if not topics or config is None:
            return False
        # SES renders a template after its Send event: that event shows the message before.
        before_rendering = mail.templated and item.kind == "Send"
        mail_part = mail_object(
            mail, origin, headers=True, tags=True, rendered=not before_rendering
        )
        if item.kind == "Delivery":
            # The address SES delivered from: real Delivery events carry it, other kinds
            # do not (docs/ses.md#event-publishing).
            mail_part["tags"]["ses:outgoing-ip"] = [OUTGOING_IP]
        # One payload, whatever the number of destinations.
        message = json.dumps({"eventType": item.kind, "mail": mail_part, key: item.body})
        routed = False
        for topic in topics:
            published = self.sns.publish_as_ses(
                account=origin.account,
                region=origin.region,
                topic_arn=topic,
                source_arn=origin.arn("configuration-set", config.name),
                message=message,
                subject=EVENT_SUBJECT,
            )
            routed |= published is not None
        return routed

    def _publish_notification(
        self, state: RegionState, origin: Origin, mail: Mail, item: Feedback
    ) -> bool:
        with self._lock:
            identity = state.identity_for(bare_address(mail.source))
            if identity is None:
                return False
            topic = identity.topics.get(item.kind)
            with_headers = identity.headers_in_notifications.get(item.kind, False)
            name = identity.name
        if topic is None:
            return False
        payload: dict[str, Any] = {
            "notificationType": item.kind,
            "mail": mail_object(mail, origin, headers=with_headers, tags=False),
            item.kind.lower(): item.body,
        }
        if mail.tenant and item.kind != "Delivery":
            # "SES adds a ses:tenant-name tag to bounce and complaint notifications"
            # (docs/ses.md#tenants), though notifications carry no other tags.
            payload["mail"]["tags"] = {"ses:tenant-name": [mail.tenant]}
        published = self.sns.publish_as_ses(
            account=origin.account,
            region=origin.region,
            topic_arn=topic,
            source_arn=origin.arn("identity", name),
            message=json.dumps(payload),
            subject=None,
        )
        if published is None and item.kind != "Delivery":
            # SES removes a bounce/complaint topic it cannot publish to and turns email
            # forwarding back on (docs/ses.md#notifications); delivery topics are left alone.
            with self._lock:
                identity.topics.pop(item.kind, None)
                identity.forwarding_enabled = True
            self._changed()
            log.warning("SES could not publish %s to %s; topic removed", item.kind, topic)
        return published is not None

    def _forward_by_email(
        self, state: RegionState, mail: Mail, item: Feedback, *, routed: bool
    ) -> None:
        with self._lock:
            identity = state.identity_for(bare_address(mail.source))
            forwarding = identity.forwarding_enabled if identity else True
        # With no other route for bounces and complaints SES mails them even when forwarding
        # is off; with a route and forwarding on, both happen (docs/ses.md#notifications).
        if routed and not forwarding:
            return
        message = EmailMessage(policy=SMTP)
        if item.kind == "Bounce":
            message["From"] = "MAILER-DAEMON@amazonses.com"
            message["Subject"] = "Delivery Status Notification (Failure)"
            lines = [
                f"{r['emailAddress']}: {r.get('diagnosticCode', '')}"
                for r in item.body["bouncedRecipients"]
            ]
            message.set_content(
                "An error occurred while trying to deliver the mail to the following "
                "recipients:\n" + "\n".join(lines) + "\n"
            )
        else:
            message["From"] = "complaints@email-abuse.amazonses.com"
            message["Subject"] = f"Complaint about message: {mail.subject}"
            complained = ", ".join(r["emailAddress"] for r in item.body["complainedRecipients"])
            message.set_content(f"A recipient ({complained}) complained about your message.\n")
        message["To"] = mail.return_path
        message["X-SES-Feedback-Type"] = item.kind
        message["X-Original-SES-Message-ID"] = mail.message_id
        self._mailbox.deliver(
            kind="feedback",
            recipient=mail.return_path,
            sender=str(message["From"]),
            raw=message.as_bytes(),
            ses_message_id=mail.message_id,
        )

    def _deliver_copy(self, mail: Mail, recipient: str) -> None:
        self._mailbox.deliver(
            kind="delivery",
            recipient=recipient,
            sender=mail.source,
            raw=copy_for(mail, recipient),
            ses_message_id=mail.message_id,
        )

    def _auto_reply(self, mail: Mail, recipient: str) -> None:
        original = mail.parsed()
        message = EmailMessage(policy=SMTP)
        message["From"] = recipient
        message["To"] = mail.return_path
        message["Subject"] = f"Automatic reply: {mail.subject}"
        message["Auto-Submitted"] = "auto-replied"
        if original.get("Message-ID"):
            message["In-Reply-To"] = str(original["Message-ID"])
        message.set_content("I am out of the office and will reply when I return.\n")
        self._mailbox.deliver(
            kind="auto-reply",
            recipient=mail.return_path,
            sender=recipient,
            raw=message.as_bytes(),
            ses_message_id=mail.message_id,
        )


def mail_object(
    mail: Mail, origin: Origin, *, headers: bool, tags: bool, rendered: bool = True
) -> dict[str, Any]:
    """The ``mail`` object of a payload; ``rendered=False`` leaves out what a template makes.

    A templated message's Send event has no Subject or Content-* headers and no
    ``commonHeaders.subject`` ("the subject is rendered later and included in subsequent
    events": AWS's Send example, and Send events recorded against AWS).
    """
    source_identity = bare_address(mail.source)
    domain = source_identity.rpartition("@")[2]
    obj: dict[str, Any] = {
        "timestamp": iso(mail.timestamp),
        "messageId": mail.message_id,
        "source": mail.source,
        "sourceArn": origin.arn("identity", mail.identity or source_identity),
        "sourceIp": mail.source_ip,
        "sendingAccountId": origin.account,
        "callerIdentity": mail.caller,
        "destination": list(mail.destinations),
    }
    if tags:
        # Event publishing gives the caller and its address only as ses:* tags: its mail object has
        # no sourceIp or callerIdentity (docs/ses.md#event-publishing; AWS's event examples).
        del obj["sourceIp"], obj["callerIdentity"]
    if headers and not mail.raw:
        # A message that did not render has no headers, yet says they were not truncated
        # (AWS's Rendering Failure example).
        obj["headersTruncated"] = False
    if headers and mail.raw:
        parsed = mail.parsed()
        header_list = [h for h in headers_of(parsed) if rendered or not _from_template(h["name"])]
        obj["headersTruncated"] = (
            sum(len(h["name"]) + len(h["value"]) for h in header_list) >= 10240
        )
        obj["headers"] = header_list
        common = common_headers(parsed)
        # SES gives a message without a Message-ID its own id, and commonHeaders says so (real
        # events recorded against AWS); a caller's own Message-ID is kept
        # (docs/ses.md#notifications).
        common.setdefault("messageId", mail.message_id)
        if not rendered:
            common.pop("subject", None)
        obj["commonHeaders"] = common
    if tags:
        all_tags: dict[str, list[str]] = {
            "ses:operation": [mail.operation],
            "ses:source-ip": [mail.source_ip],
            "ses:from-domain": [domain],
            "ses:caller-identity": [mail.caller],
        }
        if mail.configuration_set:
            all_tags["ses:configuration-set"] = [mail.configuration_set]
        if mail.tenant:
            # Beside SES's other auto tags (docs/ses.md#tenants).
            all_tags["ses:tenant-name"] = [mail.tenant]
        for name, value in mail.tags.items():
            all_tags[name] = [value]
        obj["tags"] = all_tags
    return obj


def _from_template(header: str) -> bool:
    name = header.lower()
    return name == "subject" or name.startswith("content-")


def _bind(function: Callable[..., None], *args: Any) -> Callable[[], None]:
    def job() -> None:
        function(*args)

    return job
