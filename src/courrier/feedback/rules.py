"""What courrier does with each event: suppress, count a soft bounce, record, or ignore.

Defaults (docs/ses.md#notifications, #mailbox-simulator, #sqs): permanent bounces of every subtype
and complaints other than ``not-spam`` suppress; transient and undetermined bounces are counted and
suppress after ``soft_bounce_limit`` within ``soft_bounce_window``; an out-of-office reply never
suppresses; a Rendering Failure fails its recipients (SES accepted the send, then sent nothing
because the template data did not fit the template,
https://repost.aws/knowledge-center/ses-sendtemplatedemail-delivery-failure); everything else is
recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from courrier.feedback import events as ev
from courrier.settings import Settings, WorkerSettings
from courrier.statuses import Action, SuppressionReason

__all__ = ["Action", "Rules"]


@dataclass(frozen=True)
class Rules:
    """Decides what each feedback event does: suppress its recipient, count a soft bounce,
    fail the recipient, or only record it (see the module's defaults); the worker and
    ``courrier receive`` apply events through one."""

    soft_bounce_limit: int = WorkerSettings.soft_bounce_limit
    soft_bounce_window: dt.timedelta = WorkerSettings.soft_bounce_window
    #: Complaint feedback types that do not suppress.
    complaint_exemptions: frozenset[str] = frozenset({"not-spam"})
    #: How long a suppression lasts; None keeps it until removed.
    suppression_ttl: dt.timedelta | None = WorkerSettings.suppression_ttl

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: int | None) -> Rules:
        """The rules the settings give (``soft_bounce_limit``, ``soft_bounce_window_days``,
        ``suppression_ttl_days``); ``overrides`` (a command-line option) win."""
        worker = settings.worker
        return cls(
            soft_bounce_limit=overrides.get("soft_bounce_limit") or worker.soft_bounce_limit,
            soft_bounce_window=worker.soft_bounce_window,
            suppression_ttl=worker.suppression_ttl,
        )

    def action(
        self, event: ev.Event, *, delivered_before: Callable[[], bool] = lambda: False
    ) -> Action:
        """The action for ``event``.

        ``delivered_before`` answers whether the same recipient already has a Delivery for
        the same message, which makes a Transient/General bounce an auto-reply (the ooto
        case, docs/ses.md#mailbox-simulator); it is asked only for such bounces.
        """
        if isinstance(event, ev.Bounce):
            if event.tenant_listed:
                # On one tenant's list, not the account's: the account's other tenants
                # may still send to it, so it is never suppressed account-wide.
                return Action.RECORD
            if event.permanent:
                return Action.SUPPRESS
            if event.bounce_subtype == "General" and delivered_before():
                return Action.RECORD
            return Action.COUNT_SOFT_BOUNCE
        if isinstance(event, ev.Complaint):
            if event.feedback_type in self.complaint_exemptions:
                return Action.RECORD
            return Action.SUPPRESS
        if isinstance(event, ev.RenderingFailure):
            return Action.FAIL
        return Action.RECORD

    def reason(self, event: ev.Event) -> SuppressionReason:
        """The suppression reason an event that suppresses records: ``complaint``, ``soft-bounce``
        or ``bounce``."""
        if isinstance(event, ev.Complaint):
            return SuppressionReason.COMPLAINT
        if isinstance(event, ev.Bounce) and not event.permanent:
            return SuppressionReason.SOFT_BOUNCE
        return SuppressionReason.BOUNCE
