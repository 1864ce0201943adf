"""Mailer: send one message through SES v2 and record every recipient's outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.backoff import Backoff
from courrier.clock import Sleep
from courrier.errors import (
    CourrierError,
)
from courrier.message import AddressLike, Message
from courrier.mime import render
from courrier.reputation.guard import Guard
from courrier.sending import pipeline
from courrier.sending.bulk import BulkResult, BulkSend, send_bulk
from courrier.sending.limiter import RateLimiter, SharedLimiter
from courrier.sending.outbox import (
    EnqueueReport,
    OutboxEntry,
    bulk_messages,
    destination_key,
    enqueue,
    enqueue_many,
)
from courrier.sending.pacing import pacer_for
from courrier.sending.results import RecipientResult, SendResult
from courrier.sending.templated import templated_call
from courrier.sending.unsubscribing import headers_for, list_management, topic_for
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.send_rate import Grant, TokenRequest
from courrier.template_message import BulkDestination, TemplateMessage

__all__ = ["Mailer", "RecipientResult", "SendResult"]

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Message | TemplateMessage)


class Mailer:
    """Sends :class:`~courrier.message.Message` values.

    Before the call, recipients on the suppression list are dropped (and recorded as
    ``suppressed``) and the account's send rate is respected (:attr:`pacer`). Throttling and
    unreachable endpoints are retried with backoff; every other SES refusal is raised at once as a
    :class:`~courrier.errors.SendError` after being recorded. When SES's answer is lost the
    message is recorded as ``unknown`` and :class:`~courrier.errors.OutcomeUnknown` is raised:
    it is never re-sent blindly. A bulk message (``Message.bulk``) is refused with
    :class:`~courrier.errors.ReputationGuardTripped`, before anything is recorded, while the
    reputation guard is tripped.
    """

    def __init__(
        self,
        store: Store,
        ses: SesClient,
        *,
        settings: Settings | None = None,
        pacer: RateLimiter | None = None,
        sleep: Sleep = time.sleep,
        guard: Guard | None = None,
        on_retry: Callable[[CourrierError, float], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.store = store
        self.ses = ses
        #: Refuses bulk sends while the reputation guard is tripped (courrier.reputation).
        self.guard = guard or Guard(store, self.settings, account=ses.account)
        #: Called with the error and the delay before each retry (metrics count them).
        self._on_retry = on_retry
        self._pacer = pacer
        self._pacer_lock = threading.Lock()
        self._sleep = sleep
        self._backoff = Backoff(
            self.settings.send_attempts, self.settings.backoff_base, self.settings.backoff_cap
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Mailer:
        """A mailer on the store and the SES client that ``settings`` name (by default
        :meth:`Settings.load`: arguments, ``COURRIER_*``, ``courrier.toml``)."""
        settings = settings or Settings.load()
        store = Store(settings.database_url)
        ses = SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        return cls(store, ses, settings=settings)

    @property
    def pacer(self) -> RateLimiter:
        """What keeps sends under the account's max send rate (``send_rate_scope``).

        "store" (the default): a bucket in the store shared by every process and machine
        using it (:class:`~courrier.sending.limiter.SharedLimiter`). "process": this
        process's own :class:`~courrier.sending.pacing.Pacer`, shared by its threads only.
        """
        with self._pacer_lock:
            if self._pacer is None:
                self._pacer = self._new_pacer()
            return self._pacer

    def _new_pacer(self) -> RateLimiter:
        rate = self.settings.max_send_rate
        if self.settings.send_rate_scope == "store":
            return SharedLimiter(
                self.store,
                self.ses.region,
                read_rate=lambda: self.ses.quota().max_send_rate,
                fixed_rate=rate or None,
                burst=self.settings.send_burst,
                recheck_after=self.settings.send_rate_recheck,
            )
        return pacer_for(
            self.ses.endpoint, self.ses.region, lambda: rate or self.ses.quota().max_send_rate
        )

    def send(self, message: Message | TemplateMessage) -> SendResult:
        """Send ``message``; every path out leaves each recipient in a final status.

        The message is rendered (and so fully checked, size included) before anything is
        recorded: a message that cannot be sent leaves no trace in the store. A
        :class:`~courrier.TemplateMessage` is rendered by SES (v2 SendEmail with
        ``Content.Template``). Safe to call from many threads at once.
        """
        return self.deliver(message)

    def deliver(self, message: Message | TemplateMessage, *, retry: bool = True) -> SendResult:
        """:meth:`send`; with ``retry=False`` throttling and unreachable SES are raised at
        once (recorded ``failed``) for a caller that retries later itself."""
        delivery = pipeline.deliver(self, message, backoff=self._backoff if retry else Backoff(1))
        assert delivery is not None  # no outbox row: always recorded
        if delivery.error is not None:
            raise delivery.error
        return delivery.result

    def with_defaults(self, message: _M) -> _M:
        """``message`` with the settings' configuration set when it names none, and, for a
        bulk message under SES's subscription management, the default topic."""
        if message.configuration_set is None and self.settings.configuration_set:
            message = dataclasses.replace(
                message, configuration_set=self.settings.configuration_set
            )
        if message.bulk and message.list_name is None:
            topic = topic_for(self.settings, None)
            if topic is not None:
                message = dataclasses.replace(message, list_name=topic)
        return message

    def request(self, outgoing: Message | TemplateMessage) -> Callable[[], str]:
        """The SES call for ``outgoing`` (rendered now, so that rendering errors come first)."""
        headers = headers_for(self.settings, outgoing)
        listed = list_management(self.settings, outgoing)
        if isinstance(outgoing, TemplateMessage):
            return templated_call(self.ses, outgoing, headers=headers, list_management=listed)
        if headers:
            outgoing = dataclasses.replace(outgoing, headers={**outgoing.headers, **headers})
        raw = render(outgoing)
        feedback = outgoing.feedback_address
        return functools.partial(
            self.ses.send_raw,
            raw,
            sender=outgoing.from_address.email,
            destinations=[a.email for a in outgoing.recipients],
            configuration_set=outgoing.configuration_set,
            tags=outgoing.tags,
            feedback_address=feedback.email if feedback is not None else None,
            **({"list_management": listed} if listed else {}),
            tenant=outgoing.tenant,
        )

    def token_request(self) -> TokenRequest | None:
        """How a send's intent takes its tokens from the store's bucket (None: the pacer is
        this process's own, :meth:`pace` asks it)."""
        pacer = self.pacer
        return pacer.request() if isinstance(pacer, SharedLimiter) else None

    def pace(self, recipients: int, grant: Grant | None) -> float:
        """Wait until ``recipients`` may be sent: what the intent's ``grant`` says, else ask
        the pacer; seconds waited."""
        pacer = self.pacer
        if grant is not None and isinstance(pacer, SharedLimiter):
            return pacer.settle(grant, recipients)
        return pacer.acquire(recipients)

    def send_bulk(
        self,
        template: str,
        destinations: Iterable[BulkDestination],
        *,
        sender: AddressLike,
        data: Mapping[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        configuration_set: str | None = None,
        reply_to: Iterable[AddressLike] = (),
        feedback_address: AddressLike | None = None,
        list_name: str | None = None,
        tenant: str | None = None,
    ) -> BulkResult:
        """Send ``template`` to each destination (v2 SendBulkEmail, 50 per call); see
        :mod:`courrier.sending.bulk`."""
        return send_bulk(
            self,
            BulkSend(
                template=template,
                sender=sender,
                data=dict(data or {}),
                tags=dict(tags or {}),
                configuration_set=configuration_set or self.settings.configuration_set,
                reply_to=tuple(reply_to),
                feedback_address=feedback_address,
                list_name=list_name,
                tenant=tenant,
            ),
            list(destinations),
        )

    def enqueue(
        self,
        message: Message | TemplateMessage,
        *,
        send_at: dt.datetime | None = None,
        key: str | None = None,
    ) -> OutboxEntry:
        """Queue ``message`` for ``courrier outbox run``; the same ``key`` twice is one entry
        (the first one, returned again). A bulk message is checked for its unsubscribe link
        now, not when the runner sends it. See :mod:`courrier.sending.outbox`."""
        headers_for(self.settings, message)
        list_management(self.settings, message)
        return enqueue(self.store, message, send_at=send_at, key=key)

    def enqueue_bulk(
        self,
        template: str,
        destinations: Iterable[BulkDestination],
        *,
        sender: AddressLike,
        data: Mapping[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        configuration_set: str | None = None,
        send_at: dt.datetime | None = None,
        key: str | None = None,
        list_name: str | None = None,
        tenant: str | None = None,
    ) -> EnqueueReport:
        """Queue one bulk templated message per destination, in one transaction. With a
        ``key`` (a campaign name), each destination's key comes from it and its addresses:
        queuing the same campaign again queues nobody twice."""
        messages = bulk_messages(
            template,
            list(destinations),
            sender=sender,
            data=data,
            tags=tags,
            configuration_set=configuration_set or self.settings.configuration_set,
            list_name=list_name,
            tenant=tenant,
        )
        for message in messages:
            headers_for(self.settings, message)
            list_management(self.settings, message)
        keyed = [
            (m, destination_key(key, [a.email for a in m.recipients]) if key else None)
            for m in messages
        ]
        return enqueue_many(self.store, keyed, send_at=send_at)

    def retrying(self, err: CourrierError, delay: float) -> None:
        """Log, count and wait out one retry."""
        log.warning("send retried in %.2f s: %s", delay, err)
        if self._on_retry is not None:
            self._on_retry(err, delay)
        self._sleep(delay)

    @property
    def backoff(self) -> Backoff:
        """The backoff between retries of a throttled or unreachable send."""
        return self._backoff
