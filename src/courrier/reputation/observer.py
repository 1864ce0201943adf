"""The guard's hook into the feedback worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.reputation.guard import Guard

__all__ = ["EVALUATE_INTERVAL", "GuardObserver"]

#: The least time between two judgements of the rates by one worker, in seconds.
EVALUATE_INTERVAL = 1.0


class GuardObserver(WorkerObserver):
    """Judges the rates after committed batches that stored a bounce or a complaint, and
    SES's own view at most once a minute while the worker polls.

    A judgement reads the whole representative window (tens of milliseconds on a large
    store), so a worker judges at most once every ``interval`` seconds: a batch that comes
    sooner is judged at the next poll once the interval has passed, or when the run ends.
    AWS reviews an account over days, so a second's delay changes nothing that matters.
    """

    def __init__(
        self,
        guard: Guard,
        *,
        interval: float = EVALUATE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard = guard
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = False
        #: The tenants with a bounce or a complaint since their last judgement.
        self._tenants: set[str] = set()
        self._judged_at: float | None = None

    def polled(self, received: int) -> None:
        self.guard.check_account()
        self._judge(force=False)

    def applied(self, applied: Applied) -> None:
        judged = [e for e, _ in applied.stored if e.kind in ("Bounce", "Complaint")]
        if judged:
            with self._lock:
                self._pending = True
                self._tenants.update(e.tenant for e in judged if e.tenant)
            self._judge(force=False)

    def stopped(self) -> None:
        self._judge(force=True)

    def _judge(self, *, force: bool) -> None:
        with self._lock:
            if not self._pending:
                return
            now = self._clock()
            if not force and self._judged_at is not None and now - self._judged_at < self.interval:
                return
            self._pending = False
            self._judged_at = now
            tenants, self._tenants = sorted(self._tenants), set()
        try:
            # The tenants first: the account is judged without those that trip.
            for tenant in tenants:
                self.guard.evaluate_tenant(tenant)
            self.guard.evaluate()
        except BaseException:
            with self._lock:
                self._pending = True  # judged again at the next chance, not dropped
                self._tenants.update(tenants)
            raise
