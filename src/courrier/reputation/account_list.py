"""Keep courrier's suppression list and SES's account-level list in step
(docs/ses.md#account-level-suppression-list).

- Pull: every SES entry missing locally is added (reason ``bounce`` or ``complaint``,
  source ``ses-account``, with SES's last update time in the detail).
- Push: local entries SES should know — permanent ``bounce`` and ``complaint`` entries that do not
  expire — are added with PutSuppressedDestination. Mailbox-simulator addresses are never pushed:
  SES keeps them off its lists (docs/ses.md#mailbox-simulator) and listing them would turn every
  simulator test into an ``OnAccountSuppressionList`` bounce.
- An address on both lists is left alone, whatever the reasons; nothing is ever removed.
  A second run therefore changes nothing.

SES allows other API actions about one call a second (docs/ses.md#limits): calls are spaced by
``calls_per_second`` and a ``TooManyRequestsException`` is retried with a growing delay.
PutSuppressedDestination is refused while the account is in the SES sandbox
(docs/ses.md#sandbox-account).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from courrier.aws.ses import SesClient, SuppressedDestination
from courrier.clock import Sleep
from courrier.errors import AwsError
from courrier.statuses import SuppressionReason
from courrier.store import Store
from courrier.store.stats import SIMULATOR_DOMAIN

__all__ = ["SyncReport", "sync"]

T = TypeVar("T")

#: Local reasons SES's list knows, and their SES names.
PUSHED_REASONS: dict[str, str] = {
    SuppressionReason.BOUNCE: "BOUNCE",
    SuppressionReason.COMPLAINT: "COMPLAINT",
}
SOURCE = "ses-account"


@dataclass
class SyncReport:
    pulled: list[str] = field(default_factory=list)  # added to the local list
    pushed: list[str] = field(default_factory=list)  # added to SES's list
    only_local: list[str] = field(default_factory=list)  # differ, left as they are
    only_ses: list[str] = field(default_factory=list)
    in_both: int = 0
    pages: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "pulled": self.pulled,
            "pushed": self.pushed,
            "only_local": self.only_local,
            "only_ses": self.only_ses,
            "in_both": self.in_both,
            "pages": self.pages,
            "dry_run": self.dry_run,
        }


class _Spacer:
    """Spaces calls to SES and retries the ones it throttles."""

    def __init__(self, calls_per_second: float, sleep: Sleep, attempts: int = 6) -> None:
        self.interval = 1.0 / calls_per_second if calls_per_second > 0 else 0.0
        self.sleep = sleep
        self.attempts = attempts
        self.last: float | None = None

    def call(self, function: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            if self.last is not None:
                wait = self.last + self.interval - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
            self.last = time.monotonic()
            try:
                return function()
            except AwsError as err:
                if err.code != "TooManyRequestsException" or attempt == self.attempts - 1:
                    raise
                self.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")


def read_account_list(
    ses: SesClient, *, page_size: int = 100, spacer: _Spacer | None = None
) -> tuple[dict[str, SuppressedDestination], int]:
    """Every entry of the account-level list, following NextToken; and the pages read."""
    spacer = spacer or _Spacer(0, time.sleep)
    entries: dict[str, SuppressedDestination] = {}
    token: str | None = None
    pages = 0
    while True:
        page, token = spacer.call(
            partial(ses.suppressed_page, page_size=page_size, next_token=token)
        )
        pages += 1
        entries.update((e.address, e) for e in page)
        if not token:
            return entries, pages


def sync(
    store: Store,
    ses: SesClient,
    *,
    pull: bool = True,
    push: bool = True,
    dry_run: bool = False,
    page_size: int = 100,
    calls_per_second: float = 1.0,
    sleep: Sleep = time.sleep,
) -> SyncReport:
    """Compare both lists, then pull and/or push what differs (nothing with ``dry_run``)."""
    spacer = _Spacer(calls_per_second, sleep)
    remote, pages = read_account_list(ses, page_size=page_size, spacer=spacer)
    local = {entry.address: entry for entry in store.suppressions()}
    pushable = [
        address
        for address in sorted(local.keys() - remote.keys())
        if local[address].reason in PUSHED_REASONS
        and local[address].expires_at is None
        and not address.endswith(f"@{SIMULATOR_DOMAIN}")
    ]
    if push and pushable and not dry_run and not ses.account().quota.production:
        # Checked before anything changes, so that a refused push pulls nothing either.
        raise AwsError(
            "PutSuppressedDestination is not allowed while the account is in the SES sandbox: "
            "pull only (--pull), or ask AWS for production access",
            code="NotAllowedInSandbox",
            operation="PutSuppressedDestination",
        )
    report = SyncReport(pages=pages, dry_run=dry_run)
    report.in_both = len(remote.keys() & local.keys())
    for address in sorted(remote.keys() - local.keys()):
        entry = remote[address]
        if not pull:
            report.only_ses.append(address)
            continue
        report.pulled.append(address)
        if not dry_run:
            when = entry.last_update.isoformat() if entry.last_update else "unknown"
            store.suppress(
                address,
                reason=entry.reason.lower(),
                source=SOURCE,
                detail=f"SES account-level list ({entry.reason}, updated {when})",
            )
    report.only_local = sorted(local.keys() - remote.keys() - set(pushable))
    if not push:
        report.only_local = sorted(local.keys() - remote.keys())
        return report
    for address in pushable:
        report.pushed.append(address)
        if not dry_run:
            reason = PUSHED_REASONS[local[address].reason]
            spacer.call(partial(ses.suppress, address, reason))
    return report
