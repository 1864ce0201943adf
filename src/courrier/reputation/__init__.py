"""Reputation: the rates as SES counts them, the guard, and SES's account-level list.

- :mod:`~courrier.reputation.stats`: per-day and window figures, bounce and complaint rates;
- :mod:`~courrier.reputation.guard`: refuses bulk sends once a rate crosses its line;
- :mod:`~courrier.reputation.account_list`: ``courrier suppression sync``.
"""

from courrier.reputation.account_list import SyncReport, sync
from courrier.reputation.guard import Guard, GuardStatus, Trip
from courrier.reputation.stats import AWS_PAUSE, AWS_REVIEW, Figures, Report, report, window

__all__ = [
    "AWS_PAUSE",
    "AWS_REVIEW",
    "Figures",
    "Guard",
    "GuardStatus",
    "Report",
    "SyncReport",
    "Trip",
    "report",
    "sync",
    "window",
]
