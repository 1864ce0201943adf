"""The guard's hook into the feedback worker: judgements on a thread of their own."""

from __future__ import annotations

import logging
import threading
import time

from courrier.clock import Clock
from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.reputation.guard import Guard

__all__ = ["EVALUATE_INTERVAL", "GuardObserver"]

log = logging.getLogger(__name__)

#: The least time between two judgements of the rates by one worker, in seconds.
EVALUATE_INTERVAL = 1.0


class GuardObserver(WorkerObserver):
    """Judges the rates after committed batches that stored a bounce or a complaint, and
    SES's own view at most once a minute while the worker polls.

    The judging runs on a thread of its own (``courrier-guard``), started by the first batch
    that needs it: the worker's applier only marks that a judgement is due and goes on
    applying, so however long a judgement takes (a slow store, a lock held elsewhere), it
    never holds back feedback or its deletion from SQS. GetAccount is read on the same
    thread, not on a receiver's.

    A worker judges at most once every ``interval`` seconds: the first batch with a bounce
    or a complaint is judged at once, the ones that come sooner than ``interval`` after a
    judgement are judged together once it has passed, and whatever is still due when the
    run ends is judged by :meth:`stopped` before :meth:`Worker.run
    <courrier.feedback.worker.Worker.run>` returns. AWS reviews an account over days, so a
    second's delay changes nothing that matters.
    """

    def __init__(
        self,
        guard: Guard,
        *,
        interval: float = EVALUATE_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self.guard = guard
        self.interval = interval
        self._clock = clock
        self._wake = threading.Condition()
        self._pending = False
        self._account_due = False
        self._closing = False
        #: The tenants with a bounce or a complaint since their last judgement.
        self._tenants: set[str] = set()
        self._judged_at: float | None = None
        self._thread: threading.Thread | None = None

    def polled(self, received: int) -> None:
        with self._wake:
            self._account_due = True
            self._start()
            self._wake.notify()

    def applied(self, applied: Applied) -> None:
        judged = [e for e, _ in applied.stored if e.kind in ("Bounce", "Complaint")]
        if judged:
            with self._wake:
                self._pending = True
                self._tenants.update(e.tenant for e in judged if e.tenant)
                self._start()
                self._wake.notify()

    def stopped(self) -> None:
        """Waits for a judgement in progress, then makes the one still due (on the caller's
        thread: the worker has stopped applying)."""
        with self._wake:
            thread, self._closing = self._thread, True
            self._wake.notify()
        if thread is not None:
            thread.join()
        with self._wake:
            self._thread, self._closing = None, False
            account, self._account_due = self._account_due, False
            pending, self._pending = self._pending, False
            tenants: list[str] = []
            if pending:
                self._judged_at = self._clock()
                tenants, self._tenants = sorted(self._tenants), set()
        if account:
            self.guard.check_account()
        if pending:
            self._evaluate(tenants)

    def _start(self) -> None:
        """Start the judging thread if it is not running (called holding ``_wake``)."""
        if self._thread is None and not self._closing:
            # A daemon: a worker killed or abandoned without stopped() must still exit.
            self._thread = threading.Thread(target=self._judge, name="courrier-guard", daemon=True)
            self._thread.start()

    def _due_in(self) -> float | None:
        """Seconds until the pending judgement may run: 0 when it may now, None if none is
        pending (called holding ``_wake``)."""
        if not self._pending:
            return None
        if self._judged_at is None:
            return 0.0
        return max(0.0, self._judged_at + self.interval - self._clock())

    def _judge(self) -> None:
        while True:
            with self._wake:
                while True:
                    if self._closing:
                        return  # stopped() does what is still due
                    wait = self._due_in()
                    if self._account_due or wait == 0.0:
                        break
                    self._wake.wait(wait)
                account, self._account_due = self._account_due, False
                judge = wait == 0.0
                tenants: list[str] = []
                if judge:
                    self._pending = False
                    self._judged_at = self._clock()
                    tenants, self._tenants = sorted(self._tenants), set()
            if account:
                try:
                    self.guard.check_account()
                except Exception:
                    log.exception("reputation guard: reading the account failed")
            if judge:
                self._evaluate_here(tenants)

    def _evaluate_here(self, tenants: list[str]) -> None:
        try:
            self._evaluate(tenants)
        except Exception:  # the guard must never stop the worker; judged again later
            log.exception("reputation guard: judging the rates failed")

    def _evaluate(self, tenants: list[str]) -> None:
        try:
            # The tenants first: the account is judged without those whose guard trips
            # (docs/tenants.md), so one tenant's complaints stop that tenant, not all.
            for tenant in tenants:
                self.guard.evaluate_tenant(tenant)
            self.guard.evaluate()
        except BaseException:
            with self._wake:
                self._pending = True  # judged again at the next chance, not dropped
                self._tenants.update(tenants)
            raise
