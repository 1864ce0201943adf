"""The places where the sandbox changes moto's SNS and SQS behaviour, installed together.

1. :mod:`courrier_sandbox.sns_sqs.queue_policy`: SNS -> SQS delivery honours the queue policy.
2. :mod:`courrier_sandbox.sns_sqs.indexed_sqs`: SQS cost does not grow with queue depth.
3. :mod:`courrier_sandbox.sns_sqs.http_delivery`: HTTP/S subscribers are confirmed first and
   served off the API call, with envelopes signed as AWS signs them.

All depend on moto internals; ``pyproject.toml`` pins moto's minor versions and
``tests/sandbox/test_moto_hooks.py`` checks each hook against the installed moto.
"""

from __future__ import annotations

import threading

from courrier_sandbox.sns_sqs import http_delivery, indexed_sqs, queue_policy
from courrier_sandbox.sns_sqs.indexed_sqs import IndexedQueue, IndexedSQSBackend, QueueIndex
from courrier_sandbox.sns_sqs.queue_policy import (
    DroppedDelivery,
    _publish_with_queue_policy,
    dropped_deliveries,
)

__all__ = [
    "DroppedDelivery",
    "IndexedQueue",
    "IndexedSQSBackend",
    "QueueIndex",
    "_publish_with_queue_policy",
    "dropped_deliveries",
    "install",
]

_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Install every hook; safe to call more than once."""
    global _installed
    with _install_lock:
        if _installed:
            return
        queue_policy.install()
        http_delivery.install()
        indexed_sqs.install()
        _installed = True
