"""Bulk sends against the sandbox: groups of 50, per-destination results, suppression, retries."""

from __future__ import annotations

import time
from typing import Any

import pytest

from courrier import BulkDestination
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import BulkEntryResult, SesClient
from courrier.errors import InvalidMessage, ReputationGuardTripped, TemplateNotFound
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from courrier.store import guard as guard_records
from tests.conftest import UNSUBSCRIBE, SandboxClient
from tests.sending.test_mailer import SENDER


class CountingSes(SesClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_calls: list[int] = []

    def send_bulk(self, **kwargs: Any) -> list[BulkEntryResult]:
        self.bulk_calls.append(len(kwargs["entries"]))
        return super().send_bulk(**kwargs)


@pytest.fixture
def counting(sandbox: SandboxClient, ses: SesClient) -> CountingSes:
    sandbox.sesv2.create_email_template(
        TemplateName="news",
        TemplateContent={"Subject": "News for {{name}}", "Text": "{{greeting}} {{name}}"},
    )
    return CountingSes(AwsConfig(read_timeout=10))


def simulator(label: str) -> str:
    return f"success+{label}@simulator.amazonses.com"


def test_bulk_of_120_with_3_suppressed_and_1_refused(
    counting: CountingSes, store: Store, sandbox: SandboxClient
) -> None:
    mailer = Mailer(store, counting, settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000))
    for n in range(3):
        store.suppress(simulator(f"s{n}"), reason="bounce", source="feedback")
    destinations = [BulkDestination(simulator(f"d{n}"), {"name": f"n{n}"}) for n in range(116)]
    destinations += [BulkDestination(simulator(f"s{n}"), {"name": "s"}) for n in range(3)]
    destinations.insert(60, BulkDestination("stranger@example.org", {"name": "stranger"}))
    result = mailer.send_bulk(
        "news", destinations, sender=SENDER, data={"greeting": "Hello"}, tags={"kind": "news"}
    )
    assert counting.bulk_calls == [50, 50, 17]
    assert (result.sent, result.failed, result.suppressed) == (116, 1, 3)
    ids = [r.ses_message_id for r in result.results if r.sent]
    assert len(set(ids)) == 116
    refused = result.results[60]
    assert refused.status == "failed"
    assert refused.error is not None
    assert refused.error.startswith("MESSAGE_REJECTED")
    record = store.message(refused.id)
    assert record is not None
    assert (record.status, record.error) == ("failed", refused.error)
    assert [(r.address, r.status) for r in record.recipients] == [
        ("stranger@example.org", "failed")
    ]
    for result_ in result.results:
        stored = store.message(result_.id)
        assert stored is not None
        assert (stored.status, stored.ses_message_id) == (result_.status, result_.ses_message_id)
    assert [r.status for r in result.results[-3:]] == ["suppressed"] * 3
    sandbox.drain()
    assert sandbox.ses.get_send_quota()["SentLast24Hours"] == 0.0  # simulator: rate only


def test_bulk_entries_throttled_by_ses_are_retried(
    counting: CountingSes, store: Store, sandbox: SandboxClient
) -> None:
    sandbox.set_account(max_send_rate=20.0, max_send_burst=20.0)
    mailer = Mailer(
        store,
        counting,
        settings=Settings(send_attempts=8, backoff_base=0.3, backoff_cap=0.6, **UNSUBSCRIBE),
        pacer=Pacer(1000),
        sleep=time.sleep,
    )
    destinations = [BulkDestination(simulator(f"t{n}"), {"name": "x"}) for n in range(30)]
    result = mailer.send_bulk("news", destinations, sender=SENDER, data={"greeting": "Hi"})
    assert result.sent == 30
    assert len(counting.bulk_calls) >= 2
    assert counting.bulk_calls[0] == 30
    assert counting.bulk_calls[1] < 30  # only the throttled entries went again


def test_missing_template_fails_every_destination(counting: CountingSes, store: Store) -> None:
    mailer = Mailer(store, counting, settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000))
    destinations = [BulkDestination(simulator(f"m{n}"), {}) for n in range(60)]
    with pytest.raises(TemplateNotFound):
        mailer.send_bulk("nope", destinations, sender=SENDER)
    assert counting.bulk_calls == [50]
    statuses = {store.message(n).status for n in range(1, 61)}  # type: ignore[union-attr]
    assert statuses == {"failed"}


def test_bulk_is_refused_while_the_guard_is_tripped(counting: CountingSes, store: Store) -> None:
    guard_records.record_trip(
        store, rate="bounce_rate", value=0.05, threshold=0.04, detail="bounce", figures={}
    )
    mailer = Mailer(store, counting, settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000))
    with pytest.raises(ReputationGuardTripped):
        mailer.send_bulk("news", [BulkDestination(simulator("g"), {})], sender=SENDER)
    assert counting.bulk_calls == []
    assert store.message(1) is None


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda: BulkDestination([]), "no recipients"),
        (lambda: BulkDestination("x@example.com", {"n": {1, 2}}), "JSON"),
        (lambda: BulkDestination("x@example.com", tags={"a b": "c"}), "tag"),
    ],
)
def test_bad_destinations_are_refused_when_built(build: Any, text: str) -> None:
    with pytest.raises(InvalidMessage, match=text):
        build()


def test_destination_takes_one_address_or_a_list() -> None:
    assert [a.email for a in BulkDestination(("Zoë", "z@example.com")).addresses] == [
        "z@example.com"
    ]
    assert [a.email for a in BulkDestination(["a@example.com", "b@example.com"]).addresses] == [
        "a@example.com",
        "b@example.com",
    ]
