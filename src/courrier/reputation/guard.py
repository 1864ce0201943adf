"""The reputation guard: stop bulk sends before SES puts the account under review.

The guard trips when, over the representative window (:mod:`courrier.reputation.stats`),

- the bounce rate reaches ``guard_bounce_trip`` (4% by default, under AWS's 5% review line),
- or the complaint rate reaches ``guard_complaint_trip`` (0.08%, under 0.1%),

each judged only once its base counts ``guard_min_volume`` recipients; or when SES itself
says the account is in trouble: GetAccount's ``EnforcementStatus`` is ``PROBATION`` or
``SHUTDOWN``, or ``SendingEnabled`` is false (read at most once a minute).

Where it runs:

- Rates are judged where feedback is applied: the worker has :meth:`Guard.evaluate` called
  after committed batches that stored a bounce or a complaint, on a thread of its own so
  that applying never waits for it (:class:`courrier.reputation.observer.GuardObserver`).
- A trip is one row inserted into the store's single open slot, so any number of workers
  trip it exactly once; the hooks run in the process whose insert won.
- The :class:`~courrier.sending.Mailer` asks :meth:`Guard.before_send` before each bulk
  send. It reads the store's state at most every ``STATE_TTL`` seconds (5): a trip reaches
  every sending process within that time.
- It stays tripped until ``courrier guard reset`` (or :meth:`Guard.reset`); while the rates
  are still over the line, the next bounce or complaint trips it again.

Each SES tenant has a guard of its own, judged on its own messages with the same lines
(:meth:`Guard.evaluate_tenant`, after each batch with a bounce or a complaint of that
tenant): a tripped tenant's bulk sends are refused, the other tenants' and the account's
go on, as SES pauses one tenant's reputation entity and not the account
(https://docs.aws.amazon.com/ses/latest/dg/tenants.html). A tripped account refuses every
tenant's bulk sends too; the account's rates are judged without the messages of the
tenants already tripped, so one customer's list stops that customer only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from courrier.aws.ses import AccountView
from courrier.clock import Clock
from courrier.errors import AwsError, CourrierError, ReputationGuardTripped
from courrier.reputation.stats import RATES, Report, Window, guard_lines, report, window
from courrier.settings import Settings
from courrier.statuses import GuardLevel
from courrier.store import Store
from courrier.store import guard as records
from courrier.store.guard import TripRecord

__all__ = ["ACCOUNT_INTERVAL", "STATE_TTL", "Guard", "GuardStatus", "Trip"]

log = logging.getLogger(__name__)

#: Seconds a sending process trusts the guard state it last read from the store.
STATE_TTL = 5.0
#: Seconds between two reads of SES's own view of the account (GetAccount).
ACCOUNT_INTERVAL = 60.0
#: GetAccount's EnforcementStatus values that trip the guard (docs/ses.md#limits).
BAD_ENFORCEMENT = ("PROBATION", "SHUTDOWN")

Trip = TripRecord
TripHook = Callable[[Trip], None]


@dataclass(frozen=True)
class GuardStatus:
    trip: Trip | None
    report: Report
    account: AccountView | None
    account_error: str | None = None

    def as_dict(self, history: list[Trip] | None = None) -> dict[str, Any]:
        """JSON-ready: state, open trip, the two rates with their levels, thresholds, SES's
        view, and ``history`` (recent trips) when given."""
        window = self.report.window.figures
        return {
            "state": self.state,
            "trip": self.trip.as_dict() if self.trip else None,
            "rates": {
                rate: {"value": getattr(window, rate), "level": self.report.level(rate)}
                for rate in RATES
            },
            "thresholds": self.report.thresholds(),
            "account": self.account.as_dict() if self.account else {"error": self.account_error},
            "history": [trip.as_dict() for trip in history or ()],
        }

    @property
    def state(self) -> GuardLevel:
        """``tripped``, else the worst level of the two rates (``ok`` / ``warning`` / ...)."""
        if self.trip is not None:
            return GuardLevel.TRIPPED
        levels = {self.report.level("bounce_rate"), self.report.level("complaint_rate")}
        for level in (GuardLevel.OVER, GuardLevel.WARNING, GuardLevel.OK):
            if level in levels:
                return level
        return GuardLevel.LOW_VOLUME


def describe(rate: str, value: float | None, threshold: float | None) -> str:
    name = rate.replace("_", " ")
    if value is None or threshold is None:
        return name
    return f"{name} {value:.2%} reached the guard's line of {threshold:.2%}"


class Guard:
    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        *,
        account: Callable[[], AccountView] | None = None,
        hooks: Iterable[TripHook] = (),
        clock: Clock = time.monotonic,
    ) -> None:
        self.store = store
        # Settings check their guard lines themselves (courrier.settings.GuardSettings).
        self.settings = settings or Settings()
        self.hooks = list(hooks)
        self._account = account
        self._clock = clock
        self._lock = threading.Lock()
        #: The last state read from the store: the account's under None, each tenant's.
        self._states: dict[str | None, tuple[float, Trip | None]] = {}
        self._account_read: float | None = None
        self.last_account: AccountView | None = None
        #: When :meth:`status` last asked SES (or None while nobody has, or one caller is
        #: asking), and what it could not read then.
        self._viewed: float | None = None
        self._viewing = False
        self._view_error: str | None = None

    # ---------------------------------------------------------------- judging

    def evaluate(self) -> Trip | None:
        """Judge the window's rates; the new trip if this call tripped the guard."""
        return self._evaluate(None)

    def evaluate_tenant(self, tenant: str) -> Trip | None:
        """Judge ``tenant``'s own window; the new trip if this call tripped its guard."""
        return self._evaluate(tenant)

    def _evaluate(self, tenant: str | None) -> Trip | None:
        # The account is judged without the tenants whose guard already tripped: their bulk
        # sends are stopped, so their traffic needs no pause of every other tenant's
        # (judge the tenants first). SES's own view of the account still trips it
        # (check_account).
        excluding = records.tripped_tenants(self.store) if tenant is None else []
        current = window(self.store, self.settings, tenant=tenant, excluding=excluding)
        _, trip = guard_lines(self.settings)
        counts = current.figures.counts
        judged = (
            ("bounce_rate", current.figures.bounce_rate, counts.counted_recipients, trip.bounce),
            (
                "complaint_rate",
                current.figures.complaint_rate,
                counts.complaint_recipients,
                trip.complaint,
            ),
        )
        for rate, value, base, line in judged:
            if value is not None and base >= self.settings.guard_min_volume and value >= line:
                detail = describe(rate, value, line)
                return self._trip(rate, value, line, detail, current, tenant=tenant)
        return None

    def check_account(self, *, force: bool = False) -> Trip | None:
        """Read SES's view (at most once a minute unless ``force``); trip if it is bad."""
        if self._account is None:
            return None
        now = self._clock()
        with self._lock:
            if (
                not force
                and self._account_read is not None
                and now - self._account_read < ACCOUNT_INTERVAL
            ):
                return None
            self._account_read = now
        try:
            view = self._account()
        except AwsError as err:
            log.warning("reputation guard: cannot read the account from SES: %s", err)
            return None
        self.last_account = view
        problems = []
        if view.enforcement_status in BAD_ENFORCEMENT:
            problems.append(f"EnforcementStatus is {view.enforcement_status}")
        if not view.quota.sending_enabled:
            problems.append("SendingEnabled is false")
        if not problems:
            return None
        detail = "SES says " + " and ".join(problems)
        return self._trip("ses_account", None, None, detail, None)

    def _trip(
        self,
        rate: str,
        value: float | None,
        threshold: float | None,
        detail: str,
        judged: Window | None,
        *,
        tenant: str | None = None,
    ) -> Trip | None:
        figures: dict[str, object] = {}
        if judged is not None:
            figures = {"since": judged.since.isoformat(), **judged.figures.as_dict()}
        trip = records.record_trip(
            self.store,
            rate=rate,
            value=value,
            threshold=threshold,
            detail=detail,
            figures=figures,
            tenant=tenant,
        )
        if trip is None:
            return None
        whose = f"tenant {tenant}'s " if tenant else ""
        log.error("%sreputation guard tripped: %s; its bulk sends are refused", whose, detail)
        with self._lock:
            self._states[tenant] = (self._clock(), trip)
        for hook in self.hooks:
            try:
                hook(trip)
            except Exception:  # a user's hook must not undo the trip
                log.exception("guard hook %r failed", hook)
        return trip

    # ---------------------------------------------------------------- sending

    def tripped(self, tenant: str | None = None) -> Trip | None:
        """The open trip (the account's, or ``tenant``'s), as last read from the store (at
        most ``STATE_TTL`` seconds old)."""
        now = self._clock()
        with self._lock:
            state = self._states.get(tenant)
            if state is not None and now - state[0] < STATE_TTL:
                return state[1]
        trip = records.open_trip(self.store, tenant)
        with self._lock:
            self._states[tenant] = (now, trip)
        return trip

    def before_send(self, *, bulk: bool, tenant: str | None = None) -> None:
        """Raise :class:`ReputationGuardTripped` if this send must not go out: the account's
        guard is tripped, or the guard of ``tenant`` (the message's SES tenant)."""
        if not bulk and not self.settings.guard_blocks_transactional:
            return
        self.check_account()
        trip = self.tripped()
        if trip is None and tenant is not None:
            trip = self.tripped(tenant)
        if trip is None:
            return
        kind = "bulk" if bulk else "transactional"
        whose = f"tenant {trip.tenant}'s " if trip.tenant else "the "
        option = f" --tenant {trip.tenant}" if trip.tenant else ""
        raise ReputationGuardTripped(
            f"{kind} send refused: {whose}reputation guard tripped at "
            f"{trip.tripped_at:%Y-%m-%d %H:%M} UTC ({trip.detail}); "
            f"see `courrier guard status{option}`, clear it with `courrier guard reset{option}`",
            rate=trip.rate,
            value=trip.value,
            threshold=trip.threshold,
        )

    # ---------------------------------------------------------------- operating

    def reset(self, note: str | None = None, *, tenant: str | None = None) -> Trip | None:
        """Clear the guard (the account's, or ``tenant``'s); returns the trip it closed (None
        if it was not tripped)."""
        closed = records.reset_trip(self.store, note, tenant=tenant)
        with self._lock:
            self._states.pop(tenant, None)
        return closed

    def status(self, *, days: int = 7, tenant: str | None = None) -> GuardStatus:
        """The guard's state (the account's, or ``tenant``'s: its own trip and figures) with
        SES's view of the account."""
        view, error = self.account_view()
        return GuardStatus(
            trip=records.open_trip(self.store, tenant),
            report=report(self.store, self.settings, days=days, tenant=tenant),
            account=view,
            account_error=error,
        )

    def account_view(self) -> tuple[AccountView | None, str | None]:
        """SES's view of the account (the last one read) and, if the last read failed, why.

        A long-lived caller (the dashboard) asks SES at most once per ``ACCOUNT_INTERVAL``,
        failures included, and one caller at a time: the others take the last view at
        once, so that an SES endpoint that never answers holds back one page load a
        minute rather than every page.
        """
        if self._account is None:
            return self.last_account, None
        now = self._clock()
        with self._lock:
            fresh = self._viewed is not None and now - self._viewed < ACCOUNT_INTERVAL
            if fresh:
                return self.last_account, self._view_error
            if self._viewing:
                return self.last_account, None if self.last_account else "still being read"
            self._viewing = True
        error = None
        try:
            self.last_account = self._account()
        except CourrierError as err:
            # No region, no credentials, no answer: the rates still stand without SES's view.
            error = str(err)
        finally:
            with self._lock:
                self._viewing = False
                self._viewed = self._clock()
                self._view_error = error
        return self.last_account, error
