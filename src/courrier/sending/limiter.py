"""One send rate for the whole SES account, shared through the store by every process.

SES's max send rate belongs to the account and region, counted in recipients (docs/ses.md#limits);
every web worker, task worker and machine sending through it draws from the same budget.
Each process pacing itself (:class:`~courrier.sending.pacing.Pacer`) stays under the rate
alone and over it together, so the default keeps the budget in the store: a token bucket
in one row (:mod:`courrier.store.send_rate`) that every :class:`SharedLimiter` takes from
in a short transaction. When the bucket is short the tokens are taken all the same, as a
debt, and the sender sleeps (outside the transaction) until they would have been there:
senders go in the order they asked, one transaction each.

Why these numbers:

* **Burst**: SES accepts bursts over the rate "for short bursts, but not for sustained periods" and
  does not say how long (docs/ses.md#sending-at-volume). The bucket holds ``send_burst`` seconds of
  the rate, one second by default: an application idle for a second can send a second's worth at
  once. It is kept below the sandbox's two seconds so that sends reaching SES bunched up by the
  network (admitted evenly, arriving together) still fit in what SES admits; lower it if SES
  throttles anyway.
* **Headroom**: the bucket refills at 99% of the rate, so a process that sends flat out for
  hours sits just under SES's line rather than on it.
* **Clocks**: the bucket runs on the store's clock (PostgreSQL's), never on each machine's,
  so machines whose clocks differ cannot refill it twice.
* **The rate** is SES's (GetAccount, re-read every ``send_rate_recheck`` seconds by one
  process, which stores it for all) unless the ``max_send_rate`` setting fixes it.

When the store cannot be read or written the send is not made: the error
(:class:`~courrier.errors.StoreUnavailable`, ...) is raised rather than sending without
knowing what the other processes sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from courrier.clock import Clock, Sleep
from courrier.errors import AwsError
from courrier.store import Store, send_rate

__all__ = ["HEADROOM", "RateLimiter", "SharedLimiter"]

log = logging.getLogger(__name__)

#: The share of the max send rate the bucket refills at.
HEADROOM = 0.99


class RateLimiter(Protocol):
    """What the Mailer needs: wait until ``recipients`` may be sent; seconds waited."""

    def acquire(self, recipients: int) -> float: ...


class SharedLimiter:
    """The token bucket ``name`` (the SES region) in ``store``, shared by every process.

    ``read_rate`` asks SES for the max send rate; ``fixed_rate`` (the ``max_send_rate``
    setting) replaces it, and should then be the same for every process sharing the store.
    ``burst`` is in seconds of the rate. ``clock`` replaces the store's clock and ``sleep``
    the real one (tests).
    """

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        read_rate: Callable[[], float],
        fixed_rate: float | None = None,
        burst: float = 1.0,
        recheck_after: float = 300.0,
        headroom: float = HEADROOM,
        clock: Clock | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not burst > 0:
            raise ValueError("burst must be positive")
        if fixed_rate is not None and not fixed_rate > 0:
            raise ValueError("rate must be positive")
        self.store = store
        self.name = name
        self._read_rate = read_rate
        self._fixed_rate = fixed_rate
        self._burst = burst
        self._recheck_after = recheck_after
        self._headroom = headroom
        self._clock = clock
        self._sleep = sleep

    def acquire(self, recipients: int) -> float:
        """Block until ``recipients`` may be sent; returns the seconds waited.

        A message with more recipients than the bucket holds waits for a full bucket and
        then goes. Store errors are raised: nothing may be sent without the bucket's word.
        """
        while True:
            grant = send_rate.take_in_store(self.store, self.request(), recipients)
            if not grant.missing:
                return self.settle(grant, recipients)
            self._record_rate(self._fixed_rate or self._read_rate())

    def request(self) -> send_rate.TokenRequest:
        """How to take tokens, for a send's intent to take them in its own transaction."""
        return send_rate.TokenRequest(
            self.name,
            burst=self._burst,
            headroom=self._headroom,
            recheck_after=None if self._fixed_rate else self._recheck_after,
            fixed_rate=self._fixed_rate,
            now=self._now(),
        )

    def settle(self, grant: send_rate.Grant, recipients: int) -> float:
        """Finish what a send's intent began with ``grant``: create the bucket if it was
        missing (and take the tokens then), re-read the rate if asked, wait; seconds waited."""
        if grant.missing:
            return self.acquire(recipients)
        if grant.recheck:
            self._recheck()
        if grant.wait:
            self._sleep(grant.wait)
        return grant.wait

    @property
    def rate(self) -> float | None:
        """The max send rate the bucket uses now (None before the first send)."""
        found = send_rate.read(self.store, self.name)
        return found.max_send_rate if found else None

    def _recheck(self) -> None:
        try:
            rate = self._read_rate()
        except AwsError as err:
            # The stored rate stays; the next recheck is due in ``recheck_after`` seconds.
            log.warning("re-reading the max send rate from SES failed: %s", err)
            return
        self._record_rate(rate)

    def _record_rate(self, rate: float) -> None:
        source = "setting" if self._fixed_rate else "ses"
        send_rate.set_rate(
            self.store, self.name, rate, source=source, burst=self._burst, now=self._now()
        )

    def _now(self) -> float | None:
        return None if self._clock is None else self._clock()
