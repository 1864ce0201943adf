"""SNS -> HTTP/S subscribers as AWS serves them: confirmed first, delivered off the API call.

moto posts to HTTP/S endpoints inside ``Publish`` itself, so an unreachable endpoint fails the
publisher's call (and SES's calls that publish) and the subscribers after it get nothing;
it also confirms every endpoint at once and sends no SNS headers. AWS instead:

* answers ``Subscribe`` with ``pending confirmation`` and POSTs a ``SubscriptionConfirmation``
  whose ``SubscribeURL`` confirms it; nothing else is delivered until then
  (https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html). Here the
  ``SubscribeURL`` is the sandbox's own endpoint, so a GET of it confirms;
* delivers asynchronously and retries server-side failures (a 5xx answer, no answer) per the
  delivery policy (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html).
  The sandbox makes :data:`RETRY_DELAYS` retries, then logs that it gave up;
* sends ``x-amz-sns-*`` headers with every POST
  (https://docs.aws.amazon.com/sns/latest/dg/http-header.html).

The worker is one daemon thread shared by every sandbox of the process (as moto's SNS state
is), started on first use.
"""

from __future__ import annotations

import contextvars
import heapq
import http.client
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.sns import models as sns_models
from moto.sns import responses as sns_responses
from moto.sns.exceptions import InvalidParameterValue, SNSNotFoundError

from courrier_sandbox.sns_sqs import signing

log = logging.getLogger(__name__)

#: Seconds between attempts after the first: four attempts over about seven seconds.
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
#: Seconds one POST may take before it counts as failed (AWS waits 15).
POST_TIMEOUT = 5.0
HTTP_PROTOCOLS = frozenset({"http", "https"})

#: ``<scheme>://<host>`` the current SNS request reached the sandbox at, for ``SubscribeURL``.
request_endpoint: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_endpoint", default=None
)


@dataclass(order=True)
class Delivery:
    due: float
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class DeliveryWorker:
    """POSTs deliveries in due order on a daemon thread, retrying per :data:`RETRY_DELAYS`."""

    def __init__(self) -> None:
        self._due: list[Delivery] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        #: Each thread serves one generation; :meth:`stop` starts the next, so that a thread
        #: still finishing a POST after it never takes the deliveries submitted since.
        self._generation = 0
        self._serving = -1

    def submit(self, delivery: Delivery) -> None:
        with self._changed:
            heapq.heappush(self._due, delivery)
            if self._serving != self._generation:
                self._serving = self._generation
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._generation,),
                    name="sns-http-delivery",
                    daemon=True,
                )
                self._thread.start()
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._due.clear()

    def stop(self, timeout: float = POST_TIMEOUT + 1) -> None:
        """Drop what is pending and end the thread (a POST under way may finish first)."""
        with self._changed:
            self._generation += 1
            self._due.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _next(self, generation: int) -> Delivery | None:
        with self._changed:
            while generation == self._generation:
                wait = self._due[0].due - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._due)
                self._changed.wait(wait)
            return None

    def _run(self, generation: int) -> None:
        while (delivery := self._next(generation)) is not None:
            try:
                self._deliver(delivery, generation)
            except Exception:  # one delivery must never end the thread and strand the rest
                log.exception("SNS delivery to %s failed", delivery.url)

    def _deliver(self, delivery: Delivery, generation: int) -> None:
        failure = _post(delivery)
        if failure is None:
            return
        if delivery.attempt >= len(RETRY_DELAYS):
            log.warning(
                "SNS gave up delivering to %s after %d attempts: %s",
                delivery.url,
                delivery.attempt + 1,
                failure,
            )
            return
        log.info("SNS delivery to %s failed, retrying: %s", delivery.url, failure)
        delivery.due = time.monotonic() + RETRY_DELAYS[delivery.attempt]
        delivery.attempt += 1
        with self._changed:
            if generation == self._generation:
                heapq.heappush(self._due, delivery)


def _post(delivery: Delivery) -> str | None:
    """``None`` once delivered, else why not. A 4xx answer is the endpoint's refusal, which
    SNS does not retry; a 5xx answer or none at all is retried."""
    request = urllib.request.Request(
        delivery.url, data=delivery.body, headers=delivery.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as err:
        if err.code < 500:
            log.info("SNS endpoint %s refused a message: HTTP %d", delivery.url, err.code)
            return None
        return f"HTTP {err.code}"
    except (OSError, ValueError, http.client.HTTPException) as err:
        # HTTPException: a malformed answer (a bad status line, a body cut short), which
        # urllib does not wrap: a failed attempt like no answer at all.
        return repr(err)
    return None


worker = DeliveryWorker()


def _post_later(
    url: str, body: bytes, *, kind: str, message_id: str, topic_arn: str, **extra: str
) -> None:
    headers = {
        "x-amz-sns-message-type": kind,
        "x-amz-sns-message-id": message_id,
        "x-amz-sns-topic-arn": topic_arn,
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent",
        **{name.replace("_", "-"): value for name, value in extra.items()},
    }
    worker.submit(Delivery(time.monotonic(), url, body, headers))


def _send(url: str, envelope: dict[str, Any], **extra: str) -> None:
    body = json.dumps(envelope, indent=2).encode("utf-8")
    _post_later(
        url,
        body,
        kind=envelope["Type"],
        message_id=envelope["MessageId"],
        topic_arn=envelope["TopicArn"],
        **extra,
    )


# ------------------------------------------------------------------ envelopes


def _region(topic: sns_models.Topic) -> str:
    return str(topic.arn.split(":")[3])


def _signature_version(topic: sns_models.Topic) -> str:
    # A topic signs with version 1 (SHA1) unless its SignatureVersion attribute says 2.
    return "2" if str(getattr(topic, "signature_version", "1")) == "2" else "1"


def unsubscribe_url(subscription: sns_models.Subscription) -> str:
    region = _region(subscription.topic)
    return (
        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"
    )


def notification(
    self: sns_models.Subscription,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The signed Notification envelope: replaces moto's ``Subscription.get_post_data``."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": self.topic.arn,
    }
    if subject:
        envelope["Subject"] = subject
    envelope["Message"] = message
    envelope["Timestamp"] = signing.timestamp()
    signing.sign(envelope, region=_region(self.topic), version=_signature_version(self.topic))
    envelope["UnsubscribeURL"] = unsubscribe_url(self)
    if message_attributes:
        envelope["MessageAttributes"] = message_attributes
    return envelope


def _confirmation(
    subscription: sns_models.Subscription, kind: str, token: str, message: str
) -> dict[str, Any]:
    topic = subscription.topic
    base = request_endpoint.get() or f"https://sns.{_region(topic)}.amazonaws.com"
    envelope: dict[str, Any] = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic.arn,
        "Message": message,
        "SubscribeURL": f"{base}/?Action=ConfirmSubscription&TopicArn={topic.arn}&Token={token}",
        "Timestamp": signing.timestamp(),
    }
    signing.sign(envelope, region=_region(topic), version=_signature_version(topic))
    return envelope


# ------------------------------------------------------------------ confirmation

_tokens_lock = threading.Lock()
#: token -> the subscription it confirms.
_tokens: dict[str, sns_models.Subscription] = {}


def is_pending(subscription: sns_models.Subscription) -> bool:
    return str(subscription.attributes.get("PendingConfirmation", "false")).lower() == "true"


def _request_confirmation(subscription: sns_models.Subscription) -> None:
    token = secrets.token_hex(64)
    with _tokens_lock:
        _tokens[token] = subscription
    message = (
        f"You have chosen to subscribe to the topic {subscription.topic.arn}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    )
    envelope = _confirmation(subscription, "SubscriptionConfirmation", token, message)
    _send(subscription.endpoint, envelope)


def confirm(topic_arn: str, token: str, *, authenticated: bool) -> str:
    """Confirm the subscription ``token`` was sent for; its ARN. Raises moto's SNS errors."""
    with _tokens_lock:
        subscription = _tokens.get(token)
    if subscription is None or subscription.topic.arn != topic_arn:
        raise InvalidParameterValue("Invalid token")
    backend = subscription.topic.sns_backend
    if backend.topics.get(topic_arn) is not subscription.topic:
        raise SNSNotFoundError("Topic does not exist")
    if subscription.arn not in backend.subscriptions:
        raise InvalidParameterValue("Invalid token")
    if is_pending(subscription):
        subscription.attributes["PendingConfirmation"] = "false"
        subscription.attributes["ConfirmationWasAuthenticated"] = (
            "true" if authenticated else "false"
        )
        subscription.confirmed = True
    return str(subscription.arn)


def forget() -> None:
    """Drop every token and pending delivery (the sandbox's reset)."""
    with _tokens_lock:
        _tokens.clear()
    worker.clear()


# ------------------------------------------------------------------ moto hooks

_original_subscribe = sns_models.SNSBackend.subscribe
_original_unsubscribe = sns_models.SNSBackend.unsubscribe
_original_subscribe_response = sns_responses.SNSResponse.subscribe
_original_list_subscriptions = sns_responses.SNSResponse.list_subscriptions
_original_list_subscriptions_by_topic = sns_responses.SNSResponse.list_subscriptions_by_topic


def _subscribe(
    self: sns_models.SNSBackend, topic_arn: str, endpoint: str, protocol: str
) -> sns_models.Subscription:
    known = self._find_subscription(topic_arn, endpoint, protocol)
    subscription = _original_subscribe(self, topic_arn, endpoint, protocol)
    if protocol not in HTTP_PROTOCOLS:
        return subscription
    if known is None:
        subscription.attributes["PendingConfirmation"] = "true"
        subscription.attributes["ConfirmationWasAuthenticated"] = "false"
    if is_pending(subscription):
        # Subscribing a pending endpoint again sends it a new confirmation.
        _request_confirmation(subscription)
    return subscription


def _subscribe_response(self: sns_responses.SNSResponse) -> ActionResult:
    answer = _original_subscribe_response(self)
    if self._get_param("Protocol") not in HTTP_PROTOCOLS:
        return answer
    subscription = self.backend._find_subscription(
        self._get_param("TopicArn"), self._get_param("Endpoint"), self._get_param("Protocol")
    )
    returns_arn = str(self._get_param("ReturnSubscriptionArn", "false")).lower() == "true"
    if subscription is not None and is_pending(subscription) and not returns_arn:
        return ActionResult({"SubscriptionArn": "pending confirmation"})
    return answer


def _listed(answer: ActionResult) -> ActionResult:
    """AWS lists an unconfirmed subscription's ARN as ``PendingConfirmation``."""
    result = answer.result
    if not isinstance(result, dict):
        return answer
    listed = [_as_listed(s) for s in result.get("Subscriptions") or []]
    return ActionResult({**result, "Subscriptions": listed})


def _as_listed(subscription: Any) -> Any:
    if not isinstance(subscription, sns_models.Subscription) or not is_pending(subscription):
        return subscription
    return {
        "SubscriptionArn": "PendingConfirmation",
        "Owner": subscription.owner,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": subscription.topic.arn,
    }


def _list_subscriptions_response(self: sns_responses.SNSResponse) -> ActionResult:
    return _listed(_original_list_subscriptions(self))


def _list_subscriptions_by_topic_response(self: sns_responses.SNSResponse) -> ActionResult:
    return _listed(_original_list_subscriptions_by_topic(self))


def _confirm_subscription_response(self: sns_responses.SNSResponse) -> ActionResult:
    topic_arn = self._get_param("TopicArn")
    if topic_arn not in self.backend.topics:
        raise SNSNotFoundError("Topic does not exist")
    authenticated = True  # the API call is signed, unlike a GET of the SubscribeURL
    arn = confirm(topic_arn, self._get_param("Token") or "", authenticated=authenticated)
    return ActionResult({"SubscriptionArn": arn})


def _unsubscribe(self: sns_models.SNSBackend, subscription_arn: str) -> None:
    subscription = self.subscriptions.get(subscription_arn)
    _original_unsubscribe(self, subscription_arn)
    if subscription is None or subscription.protocol not in HTTP_PROTOCOLS:
        return
    with _tokens_lock:
        for token in [t for t, s in _tokens.items() if s is subscription]:
            del _tokens[token]
    if is_pending(subscription):
        return
    token = secrets.token_hex(64)
    message = (
        f"You have chosen to deactivate subscription {subscription.arn}.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL "
        "included in this message."
    )
    envelope = _confirmation(subscription, "UnsubscribeConfirmation", token, message)
    _send(subscription.endpoint, envelope)


def publish(
    self: sns_models.Subscription,
    message: str,
    message_id: str,
    subject: str | None = None,
    message_attributes: dict[str, Any] | None = None,
    message_structure: str | None = None,
    **_: Any,
) -> None:
    """Queue a notification for an HTTP/S subscription; the API call never waits for it."""
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    if is_pending(self):
        return  # AWS delivers nothing to an unconfirmed endpoint
    topic_arn, subscription_arn = str(self.topic.arn), str(self.arn)
    if str(self.attributes.get("RawMessageDelivery", "false")).lower() == "true":
        _post_later(
            self.endpoint,
            message.encode("utf-8"),
            kind="Notification",
            message_id=message_id,
            topic_arn=topic_arn,
            x_amz_sns_subscription_arn=subscription_arn,
            x_amz_sns_rawdelivery="true",
        )
        return
    envelope = self.get_post_data(
        message, message_id, subject, message_attributes=message_attributes
    )
    _send(self.endpoint, envelope, x_amz_sns_subscription_arn=subscription_arn)


def install() -> None:
    sns_models.Subscription.get_post_data = notification  # type: ignore[method-assign]
    sns_models.SNSBackend.subscribe = _subscribe  # type: ignore[method-assign]
    sns_models.SNSBackend.unsubscribe = _unsubscribe  # type: ignore[method-assign]
    sns_responses.SNSResponse.subscribe = _subscribe_response  # type: ignore[method-assign]
    sns_responses.SNSResponse.confirm_subscription = (  # type: ignore[method-assign]
        _confirm_subscription_response
    )
    sns_responses.SNSResponse.list_subscriptions = (  # type: ignore[method-assign]
        _list_subscriptions_response
    )
    sns_responses.SNSResponse.list_subscriptions_by_topic = (  # type: ignore[method-assign]
        _list_subscriptions_by_topic_response
    )
