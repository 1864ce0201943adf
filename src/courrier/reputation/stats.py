"""Bounce and complaint rates counted the way SES counts them, as far as the store allows.

How each figure is counted (recipients, not messages, as SES counts, docs/ses.md#limits). A
recipient belongs to the UTC day, and to the window, of the message it was sent in; the
feedback it gets later counts there.

- ``messages``: messages SES accepted (a message id came back).
- ``recipients``: their recipients, less those dropped at send because they were on
  courrier's suppression list (``suppressed_at_send``, never sent to SES).
- ``delivered``, ``hard_bounces`` (any ``Permanent`` bounce), ``soft_bounces`` (Transient or
  Undetermined bounces that are not auto-replies), ``auto_replies`` (the out-of-office
  Transient/General bounce after a Delivery, docs/ses.md#mailbox-simulator), ``complaints``,
  ``rejects``: the recipients with at least one such event.
- ``account_suppressed``: recipients SES did not send to because they are on the account-level list
  (a ``Permanent/OnAccountSuppressionList`` bounce or complaint,
  docs/ses.md#account-level-suppression-list).
- ``simulator``: recipients at ``simulator.amazonses.com``.
- ``rendering_failures``: recipients of templated sends SES accepted and then did not send,
  because the template data did not fit the template (a Rendering Failure event,
  https://repost.aws/knowledge-center/ses-sendtemplatedemail-delivery-failure).

The rates follow docs/ses.md#reputation:

- ``counted_recipients`` leave out mailbox-simulator traffic, account-list suppressions,
  rejected messages and rendering failures (none of them a delivery attempt).
  ``bounce_rate`` = ``counted_hard_bounces`` (hard bounces of counted recipients) /
  ``counted_recipients``. Soft bounces and auto-replies never count.
- ``complaint_rate`` = ``counted_complaints`` / ``complaint_recipients``: counted recipients outside
  the domains that send SES no complaint feedback (setting
  ``reputation_no_complaint_feedback_domains``, Gmail's two domains by default — the one case
  docs/ses.md#reputation names; SES publishes no list, and a deny-list keeps corporate mail in the
  base).
- The window is SES's "representative volume", not a calendar span: the latest
  ``reputation_window`` counted recipients, never older than ``reputation_window_days``.

What the store cannot know: SES leaves out hard bounces to domains verified in the account
(docs/ses.md#reputation) and counts its own window; a store shared by several SES accounts or
regions, or sends made without courrier, are not seen. Bounces to verified domains are counted here,
so the local bounce rate errs high, never low. Feedback that is still on its way is not yet counted,
as it is not at SES either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from courrier.settings import Settings
from courrier.statuses import GuardLevel
from courrier.store import Store
from courrier.store.stats import Counting, Counts, counts, counts_by_day, window_start

__all__ = [
    "AWS_PAUSE",
    "AWS_REVIEW",
    "Figures",
    "Lines",
    "Report",
    "counting",
    "guard_lines",
    "report",
    "window",
]


#: The two rates the guard judges, as Figures names them.
RATES = ("bounce_rate", "complaint_rate")


@dataclass(frozen=True)
class Lines:
    """A pair of thresholds, as fractions (0.05 is 5%)."""

    bounce: float
    complaint: float


#: SES places the account under review at these rates, and may pause sending at the next
#: (docs/ses.md#reputation; the FAQ's 5% / 0.1% for review).
AWS_REVIEW = Lines(bounce=0.05, complaint=0.001)
AWS_PAUSE = Lines(bounce=0.10, complaint=0.005)


def guard_lines(settings: Settings) -> tuple[Lines, Lines]:
    """The guard's (warning, trip) lines from the settings."""
    return (
        Lines(settings.guard_bounce_warning, settings.guard_complaint_warning),
        Lines(settings.guard_bounce_trip, settings.guard_complaint_trip),
    )


@dataclass(frozen=True)
class Figures:
    """The counts of one period, and the two rates."""

    counts: Counts

    @property
    def bounce_rate(self) -> float | None:
        c = self.counts
        return c.counted_hard_bounces / c.counted_recipients if c.counted_recipients else None

    @property
    def complaint_rate(self) -> float | None:
        c = self.counts
        return c.counted_complaints / c.complaint_recipients if c.complaint_recipients else None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.counts.as_dict(),
            "bounce_rate": self.bounce_rate,
            "complaint_rate": self.complaint_rate,
        }


@dataclass(frozen=True)
class Window:
    since: dt.datetime
    figures: Figures


@dataclass(frozen=True)
class Report:
    days: dict[str, Figures]
    window: Window
    warning: Lines
    trip: Lines
    min_volume: int

    def thresholds(self) -> dict[str, dict[str, float]]:
        return {
            name: {"bounce_rate": lines.bounce, "complaint_rate": lines.complaint}
            for name, lines in (
                ("aws_review", AWS_REVIEW),
                ("aws_pause", AWS_PAUSE),
                ("guard_warning", self.warning),
                ("guard_trip", self.trip),
            )
        }

    def as_lines(self) -> list[dict[str, Any]]:
        """JSON-ready: one object per day (``kind: day``), then the window (``kind: window``)."""
        lines: list[dict[str, Any]] = [
            {"kind": "day", "day": day, **figures.as_dict()} for day, figures in self.days.items()
        ]
        lines.append(
            {
                "kind": "window",
                "since": self.window.since.isoformat(),
                **self.window.figures.as_dict(),
                "levels": {rate: self.level(rate) for rate in RATES},
                "thresholds": self.thresholds(),
                "min_volume": self.min_volume,
            }
        )
        return lines

    def level(self, rate: str) -> GuardLevel:
        """``ok``, ``warning``, ``over`` (the guard's trip line), or ``low volume``."""
        figures = self.window.figures
        value = figures.bounce_rate if rate == "bounce_rate" else figures.complaint_rate
        base = (
            figures.counts.counted_recipients
            if rate == "bounce_rate"
            else figures.counts.complaint_recipients
        )
        if value is None or base < self.min_volume:
            return GuardLevel.LOW_VOLUME
        line = "bounce" if rate == "bounce_rate" else "complaint"
        if value >= getattr(self.trip, line):
            return GuardLevel.OVER
        if value >= getattr(self.warning, line):
            return GuardLevel.WARNING
        return GuardLevel.OK


def counting(settings: Settings) -> Counting:
    domains = tuple(d.lower() for d in settings.reputation_no_complaint_feedback_domains)
    return Counting(
        count_simulator=settings.reputation_count_simulator,
        no_complaint_feedback_domains=domains,
    )


def window(
    store: Store,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    tenant: str | None = None,
    excluding: Sequence[str] = (),
) -> Window:
    """The figures of the representative window that ends ``now``: the account's, or the
    tenant's own (its messages only, as SES judges a tenant's reputation entity on its own
    traffic, https://docs.aws.amazon.com/ses/latest/dg/tenants.html). ``excluding``: the
    account's figures less those tenants' messages."""
    now = now or dt.datetime.now(dt.UTC)
    rules = counting(settings)
    oldest = now - dt.timedelta(days=settings.reputation_window_days)
    since = window_start(
        store, rules, volume=settings.reputation_window, oldest=oldest, tenant=tenant
    )
    found = counts(store, rules, since=since, tenant=tenant)
    if tenant is None:
        for other in excluding:
            found = found.without(counts(store, rules, since=since, tenant=other))
    return Window(since, Figures(found))


def report(
    store: Store,
    settings: Settings,
    *,
    days: int = 7,
    now: dt.datetime | None = None,
    tenant: str | None = None,
) -> Report:
    """Per UTC day over the last ``days`` days (today included), and the window; of the
    messages sent for ``tenant`` only, when given."""
    now = now or dt.datetime.now(dt.UTC)
    first = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    by_day = counts_by_day(store, counting(settings), since=first, tenant=tenant)
    every_day = {
        (first + dt.timedelta(days=n)).strftime("%Y-%m-%d"): Figures(Counts()) for n in range(days)
    }
    every_day.update({day: Figures(c) for day, c in by_day.items()})
    warning, trip = guard_lines(settings)
    return Report(
        days=every_day,
        window=window(store, settings, now=now, tenant=tenant),
        warning=warning,
        trip=trip,
        min_volume=settings.guard_min_volume,
    )
