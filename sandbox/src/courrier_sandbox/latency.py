"""AWS-like round trips: every SES, SNS and SQS answer waits ``ms`` ± ``jitter_ms``.

The sandbox answers in well under a millisecond; AWS answers a call from the same region in
tens of milliseconds. The SQS Developer Guide takes 20 ms as its example of the average
latency "from an Amazon EC2-based client to Amazon SQS in the same region" (which caps one
thread on one connection at about 50 calls a second): "Increasing throughput using
horizontal scaling and action batching with Amazon SQS",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-throughput-horizontal-scaling-and-batching.html.
``--latency 20,5`` is that figure with some jitter, a fair stand-in for SQS and SES calls
made from an instance in the region over a kept-alive connection; use more to stand for a
laptop far from the region. A request is answered no sooner than its delay
after it arrived: time spent inside the call (a long poll waiting for messages) counts toward
the delay, so a long poll is never held beyond its own wait.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from courrier_sandbox.errors import SandboxError


@dataclass(frozen=True)
class Latency:
    ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.ms <= 60_000 and 0 <= self.jitter_ms <= 60_000):
            raise SandboxError(f"latency must be 0 to 60000 ms, not {self.ms},{self.jitter_ms}")

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``"20"`` or ``"20,5"``: milliseconds, and the jitter either side."""
        ms, comma, jitter = text.partition(",")
        try:
            return cls(float(ms), float(jitter) if comma else 0.0)
        except ValueError as err:
            raise SandboxError(
                f"latency must be MS or MS,JITTER in milliseconds: {text!r}"
            ) from err

    def __bool__(self) -> bool:
        return self.ms > 0 or self.jitter_ms > 0

    def wait(self, started: float) -> None:
        """Sleep until the request that arrived at ``started`` (monotonic) may be answered."""
        delay = max(0.0, self.ms + random.uniform(-self.jitter_ms, self.jitter_ms)) / 1000
        remaining = started + delay - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
