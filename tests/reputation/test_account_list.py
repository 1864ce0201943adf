"""``courrier suppression sync`` against the sandbox's account-level list
(docs/ses.md#account-level-suppression-list)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from courrier.aws.ses import SesClient
from courrier.errors import AwsError
from courrier.reputation.account_list import read_account_list, sync
from courrier.store import Store
from tests.conftest import SandboxClient
from tests.fakes import SesApiStandIn

SIM = "simulator.amazonses.com"
ON_SES = 250  # more than two pages of 100


def sandbox_paginates_suppression_list(sandbox: SandboxClient) -> bool:
    """Whether the sandbox's ListSuppressedDestinations honours PageSize/NextToken yet.

    Until it does, every list comes back in one page and the page-count assertions below
    stay off; they switch themselves on once the sandbox paginates.
    """
    first = sandbox.sesv2.list_suppressed_destinations(PageSize=1)
    return bool(first.get("NextToken"))


@pytest.fixture
def lists(env: SandboxClient, store: Store) -> SandboxClient:
    """SES: 250 entries; local: 5 of them, and 7 entries SES does not have."""
    env.set_account(production=True)
    for n in range(ON_SES):
        env.sesv2.put_suppressed_destination(
            EmailAddress=f"remote{n}@example.com", Reason="COMPLAINT" if n % 10 == 0 else "BOUNCE"
        )
    for n in range(5):
        store.suppress(f"remote{n}@example.com", reason="manual", source="manual")
    store.suppress("hard@example.org", reason="bounce", source="feedback")
    store.suppress("angry@example.org", reason="complaint", source="feedback")
    store.suppress("typed-by-hand@example.org", reason="manual", source="manual")
    store.suppress(
        "flaky@example.org",
        reason="soft-bounce",
        source="feedback",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=7),
    )
    store.suppress(f"bounce@{SIM}", reason="bounce", source="feedback")
    store.suppress(f"complaint@{SIM}", reason="complaint", source="feedback")
    store.suppress(
        "expiring@example.org",
        reason="bounce",
        source="feedback",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )
    return env


def ses_list(sandbox: SandboxClient) -> dict[str, str]:
    entries, _ = read_account_list(SesClient())
    return {address: entry.reason for address, entry in entries.items()}


def test_sync_both_ways_is_complete_and_idempotent(lists: SandboxClient, store: Store) -> None:
    report = sync(store, SesClient(), page_size=100, calls_per_second=0)
    remote = {f"remote{n}@example.com" for n in range(ON_SES)}
    assert set(report.pulled) == remote - {f"remote{n}@example.com" for n in range(5)}
    assert report.pushed == ["angry@example.org", "hard@example.org"]
    assert report.only_local == sorted(
        [
            f"bounce@{SIM}",
            f"complaint@{SIM}",
            "expiring@example.org",
            "flaky@example.org",
            "typed-by-hand@example.org",
        ]
    )
    assert report.in_both == 5
    if sandbox_paginates_suppression_list(lists):
        assert report.pages == 3

    local = {s.address: s for s in store.suppressions()}
    assert remote <= local.keys()
    assert local["remote10@example.com"].reason == "complaint"
    assert local["remote11@example.com"].reason == "bounce"
    assert local["remote11@example.com"].source == "ses-account"
    assert local["remote1@example.com"].reason == "manual"  # on both lists: left alone
    on_ses = ses_list(lists)
    assert len(on_ses) == ON_SES + 2
    assert on_ses["hard@example.org"] == "BOUNCE"
    assert on_ses["angry@example.org"] == "COMPLAINT"

    again = sync(store, SesClient(), page_size=100, calls_per_second=0)
    assert (again.pulled, again.pushed, again.in_both) == ([], [], ON_SES + 2)
    assert len(store.suppressions()) == len(local)


def test_dry_run_changes_nothing(lists: SandboxClient, store: Store) -> None:
    before = store.suppressions()
    report = sync(store, SesClient(), dry_run=True, page_size=100, calls_per_second=0)
    assert len(report.pulled) == ON_SES - 5
    assert report.pushed == ["angry@example.org", "hard@example.org"]
    assert store.suppressions() == before
    assert len(ses_list(lists)) == ON_SES


def test_one_direction_at_a_time(lists: SandboxClient, store: Store) -> None:
    pulled = sync(store, SesClient(), push=False, page_size=100, calls_per_second=0)
    assert len(pulled.pulled) == ON_SES - 5
    assert pulled.pushed == []
    assert "hard@example.org" in pulled.only_local
    assert len(ses_list(lists)) == ON_SES
    pushed = sync(store, SesClient(), pull=False, page_size=100, calls_per_second=0)
    assert pushed.pulled == []
    assert pushed.pushed == ["angry@example.org", "hard@example.org"]


def test_push_is_refused_in_the_ses_sandbox(lists: SandboxClient, store: Store) -> None:
    lists.set_account(production=False)
    with pytest.raises(AwsError, match="not allowed while the account is in the SES sandbox"):
        sync(store, SesClient(), page_size=100, calls_per_second=0)
    assert len(store.suppressions()) == 12  # refused before anything was pulled
    report = sync(store, SesClient(), push=False, page_size=100, calls_per_second=0)
    assert len(report.pulled) == ON_SES - 5


class PagingSes(SesApiStandIn):
    """AWS itself, mocked: a paginating ListSuppressedDestinations that throttles once."""

    def __init__(self, total: int) -> None:
        self.entries = [
            {
                "EmailAddress": f"Person{n}@Example.com",
                "Reason": "BOUNCE",
                "LastUpdateTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            }
            for n in range(total)
        ]
        self.calls: list[dict[str, Any]] = []
        self.throttled = False

    def list_suppressed_destinations(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if not self.throttled:
            self.throttled = True
            raise ClientError(
                {
                    "Error": {"Code": "TooManyRequestsException", "Message": "Too many"},
                    "ResponseMetadata": {
                        "HTTPStatusCode": 429,
                        "RequestId": "r-1",
                        "HostId": "",
                        "HTTPHeaders": {},
                        "RetryAttempts": 0,
                    },
                },
                "ListSuppressedDestinations",
            )
        start = int(params.get("NextToken", "0"))
        end = start + params["PageSize"]
        page: dict[str, Any] = {"SuppressedDestinationSummaries": self.entries[start:end]}
        if end < len(self.entries):
            page["NextToken"] = str(end)
        return page


def pull_pages(store: Store, fake: PagingSes, calls_per_second: float) -> tuple[Any, list[float]]:
    sleeps: list[float] = []
    report = sync(
        store,
        SesClient(ses=fake),
        push=False,
        page_size=10,
        calls_per_second=calls_per_second,
        sleep=sleeps.append,
    )
    return report, sleeps


def test_every_page_is_followed_and_throttling_retried(store: Store) -> None:
    fake = PagingSes(25)
    report, sleeps = pull_pages(store, fake, 0)
    assert report.pages == 3
    assert len(report.pulled) == 25
    assert "person24@example.com" in report.pulled  # addresses are compared lower-cased
    assert [c.get("NextToken") for c in fake.calls] == [None, None, "10", "20"]
    assert {c["PageSize"] for c in fake.calls} == {10}
    assert sleeps == [1.0]  # one backoff after the throttled call
    detail = {s.address: s.detail for s in store.suppressions()}["person0@example.com"]
    assert detail == "SES account-level list (BOUNCE, updated 2026-01-01T00:00:00+00:00)"


def test_calls_are_spaced_to_the_api_rate(store: Store) -> None:
    fake = PagingSes(25)
    fake.throttled = True
    _, sleeps = pull_pages(store, fake, 1.0)
    assert len(sleeps) == 2
    assert all(0.9 < s <= 1.0 for s in sleeps)
