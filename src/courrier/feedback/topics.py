"""Which SNS topics feedback is accepted from: one rule for ``courrier worker``, ``courrier
receive`` and the Django view.

The allow-list is the topics given (``--allow-topic``), else the ``topic_arn`` setting that
``courrier setup`` writes. With neither, both commands refuse to start: a valid signature
proves that a message came from SNS, not that the topic is yours (anyone can subscribe an
endpoint, or a queue whose policy lets them, to a topic of their own), and SNS's own advice
is to refuse messages from an unexpected ``TopicArn``
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
"""

from __future__ import annotations

from collections.abc import Iterable

from courrier.errors import ConfigurationError, UntrustedTopic

__all__ = ["allowed_topics", "check_topic", "require_topics"]


def require_topics(topics: Iterable[str] | None) -> frozenset[str]:
    """``topics`` without blanks; :class:`~courrier.errors.ConfigurationError` if none."""
    allowed = frozenset(t for t in (topics or ()) if t)
    if not allowed:
        raise ConfigurationError(
            "no SNS topic allowed: give --allow-topic ARN (or set topic_arn, which "
            "courrier setup writes): anyone can subscribe this endpoint or queue to a topic "
            "of their own and post validly signed feedback"
        )
    return allowed


def allowed_topics(given: Iterable[str], configured: str | None) -> frozenset[str]:
    """The topics ``given``, else the ``configured`` one; ConfigurationError if neither."""
    topics = tuple(given)
    return require_topics(topics or ((configured,) if configured else ()))


def check_topic(topic_arn: str | None, allowed: frozenset[str]) -> None:
    """Raise :class:`~courrier.errors.UntrustedTopic` unless ``topic_arn`` is allowed."""
    if topic_arn is None:
        raise UntrustedTopic(
            "no TopicArn to check against the allow-list: raw message delivery is on "
            "(courrier setup turns it off)"
        )
    if topic_arn not in allowed:
        raise UntrustedTopic(f"topic {topic_arn!r} is not on the allow-list")
