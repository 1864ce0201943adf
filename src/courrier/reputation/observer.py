"""The guard's hook into the feedback worker."""

from __future__ import annotations

from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.reputation.guard import Guard

__all__ = ["GuardObserver"]


class GuardObserver(WorkerObserver):
    """Judges the rates after each committed batch that stored a bounce or a complaint,
    and SES's own view at most once a minute while the worker polls."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def polled(self, received: int) -> None:
        self.guard.check_account()

    def applied(self, applied: Applied) -> None:
        if any(event.kind in ("Bounce", "Complaint") for event, _ in applied.stored):
            self.guard.evaluate()
