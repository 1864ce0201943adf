"""The outbox against the sandbox: idempotent enqueue, schedules, retries, the guard, runners."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest

from courrier import BulkDestination, TemplateMessage
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.errors import ConfigurationError, InvalidMessage, StoreUnavailable
from courrier.message import Attachment, Message
from courrier.sending import Mailer, Pacer
from courrier.sending.outbox import (
    OutboxRunner,
    bulk_messages,
    enqueue_many,
    outbox_status,
    resolve,
    retry,
)
from courrier.settings import Settings
from courrier.statuses import OutboxStatus, RunOutcome
from courrier.store import Store
from courrier.store import guard as guard_records
from courrier.store import outbox as rows
from courrier.store.sends import Intent
from tests.conftest import UNSUBSCRIBE, SandboxClient
from tests.sending.test_mailer import SENDER


def reader(n: int | str) -> str:
    return f"reader{n}@example.net"


def make_mailer(store: Store, **settings: Any) -> Mailer:
    return Mailer(
        store,
        SesClient(AwsConfig(read_timeout=10)),
        settings=Settings(**{"outbox_retry_delay": 0.2, **UNSUBSCRIBE, **settings}),
        pacer=Pacer(1000),
    )


@pytest.fixture
def production(sandbox: SandboxClient, ses: SesClient) -> SandboxClient:
    sandbox.set_account(production=True)
    return sandbox


def mailbox(sandbox: SandboxClient) -> Counter[str]:
    sandbox.drain()
    return Counter(m["recipient"] for m in sandbox.control("GET", "/mailbox")["messages"])


def note(n: int | str, **more: Any) -> Message:
    return Message(sender=SENDER, to=[reader(n)], subject=f"n{n}", text="x", **more)


def test_same_key_twice_is_one_row(production: SandboxClient, store: Store) -> None:
    mailer = make_mailer(store)
    first = mailer.enqueue(note(1), key="order-42")
    second = mailer.enqueue(note(2), key="order-42")
    assert first.id == second.id
    assert second.payload == first.payload  # the first one stays
    assert rows.counts(store)["queued"] == 1
    report = enqueue_many(store, [(note(3), "order-42"), (note(4), "order-43")])
    assert (report.created, report.existing) == (1, 1)


def test_enqueue_counts_a_key_given_twice_in_one_call_once(store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    entries = [
        rows.NewEntry(f"k{n % 600}", "message", False, f"payload {n}", now) for n in range(1200)
    ]
    result = rows.enqueue(store, entries)
    assert [created for _, created in result] == [True] * 600 + [False] * 600
    assert {entry.payload for entry, _ in result} == {f"payload {n}" for n in range(600)}
    assert rows.counts(store)["queued"] == 600
    again = rows.enqueue(store, entries[:10])
    assert [created for _, created in again] == [False] * 10


def test_due_rows_are_sent_and_future_ones_wait(production: SandboxClient, store: Store) -> None:
    mailer = make_mailer(store)
    logo = Attachment("logo.png", b"\x89PNG\r\n", "image/png", content_id="logo")
    now = dt.datetime.now(dt.UTC)
    sent_now = mailer.enqueue(note(1, html="<img src='cid:logo'>", attachments=[logo]))
    later = mailer.enqueue(note(2), send_at=now + dt.timedelta(hours=1))
    past = mailer.enqueue(note(3), send_at=now - dt.timedelta(minutes=1))
    report = OutboxRunner(mailer).run(until_empty=True)
    assert report.outcomes == {"sent": 2}
    assert mailbox(production) == {reader(1): 1, reader(3): 1}
    done = rows.entry(store, sent_now.id)
    assert done is not None
    assert done.status == "sent"
    assert done.message_id is not None
    record = store.message(done.message_id)
    assert record is not None
    assert record.status == "sent"
    assert rows.entry(store, later.id).status == "queued"  # type: ignore[union-attr]
    assert rows.entry(store, past.id).status == "sent"  # type: ignore[union-attr]
    [letter] = production.control("GET", f"/mailbox?recipient={reader(1)}")["messages"]
    assert production.control("GET", f"/mailbox/{letter['id']}")["attachments"] == ["logo.png"]


def test_templates_and_bulk_destinations_go_through_the_outbox(
    production: SandboxClient, store: Store
) -> None:
    production.sesv2.create_email_template(
        TemplateName="news", TemplateContent={"Subject": "Hi {{name}}", "Text": "{{name}}"}
    )
    mailer = make_mailer(store)
    mailer.enqueue(
        TemplateMessage(sender=SENDER, to=[reader(0)], template="news", data={"name": "a"})
    )
    destinations = [BulkDestination(reader(n), {"name": f"r{n}"}) for n in (1, 2)]
    messages = bulk_messages("news", destinations, sender=SENDER, tags={"campaign": "may"})
    assert all(m.bulk for m in messages)
    assert [m.tags for m in messages] == [{"campaign": "may"}] * 2
    first = mailer.enqueue_bulk(
        "news", destinations, sender=SENDER, tags={"campaign": "may"}, key="may"
    )
    again = mailer.enqueue_bulk("news", destinations, sender=SENDER, key="may")
    assert (first.created, again.created, again.existing) == (2, 0, 2)
    assert all(e.bulk for e in first.entries)
    assert OutboxRunner(mailer).run(until_empty=True).outcomes == {"sent": 3}
    assert mailbox(production) == {reader(0): 1, reader(1): 1, reader(2): 1}


def test_bad_input_is_refused_before_queueing(store: Store) -> None:
    mailer = make_mailer(store)
    with pytest.raises(InvalidMessage, match="timezone"):
        mailer.enqueue(note(1), send_at=dt.datetime(2030, 1, 1))
    with pytest.raises(InvalidMessage, match="key"):
        mailer.enqueue(note(1), key="k" * 201)
    assert rows.counts(store)["queued"] == 0


def test_throttled_rows_are_requeued_and_others_keep_going(
    production: SandboxClient, store: Store
) -> None:
    production.set_account(max_send_rate=2.0, max_send_burst=2.0)
    mailer = make_mailer(store)
    for n in range(5):
        mailer.enqueue(note(n), key=f"k{n}")
    seen: list[tuple[str, str]] = []
    runner = OutboxRunner(mailer, on_row=lambda e, outcome: seen.append((e.key, outcome)))
    report = runner.run(until_empty=True)
    assert report.outcomes[RunOutcome.SENT] == 5
    assert report.outcomes[RunOutcome.REQUEUED] >= 1
    first_requeued = next(i for i, (_, o) in enumerate(seen) if o == "requeued")
    # A later row was tried right after the throttled one, before its retry.
    assert seen[first_requeued + 1][0] != seen[first_requeued][0]
    assert mailbox(production) == {reader(n): 1 for n in range(5)}
    throttled = [e for e in rows.entries(store) if e.attempts > 1]
    assert throttled
    assert all(e.error is None or "Throttled" in e.error for e in throttled)


def test_a_used_up_daily_quota_leaves_the_rows_queued(
    production: SandboxClient, store: Store
) -> None:
    production.set_account(max_24_hour_send=2.0)
    mailer = make_mailer(store, outbox_max_attempts=1)
    entries = [mailer.enqueue(note(n), key=f"q{n}") for n in range(5)]
    report = OutboxRunner(mailer, batch=5).run(until_empty=True)
    assert report.outcomes[RunOutcome.SENT] == 2
    assert report.outcomes[RunOutcome.REQUEUED] == 1
    assert RunOutcome.FAILED not in report.outcomes
    found = [rows.entry(store, e.id) for e in entries]
    assert [e.status for e in found if e] == ["sent", "sent", "queued", "queued", "queued"]
    refused = found[2]
    assert refused is not None
    assert refused.error is not None
    assert "DailyQuotaExceeded" in refused.error
    assert refused.next_attempt_at is not None
    assert refused.next_attempt_at - dt.datetime.now(dt.UTC) > dt.timedelta(minutes=10)
    # The rows after it were given back untried: SES would refuse them the same way.
    assert [e.attempts for e in found[3:] if e] == [0, 0]
    assert mailbox(production) == {reader(0): 1, reader(1): 1}


def test_missing_credentials_give_the_row_back_and_stop_the_runner(
    production: SandboxClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailer = make_mailer(store)
    entry = mailer.enqueue(note(1))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigurationError, match="credentials"):
        OutboxRunner(make_mailer(store)).run(until_empty=True)
    found = rows.entry(store, entry.id)
    assert found is not None
    assert found.status == "queued"  # SES was never called: not unknown
    assert mailbox(production) == {}


def test_retries_run_out_as_failed(production: SandboxClient, store: Store) -> None:
    production.set_account(max_send_rate=1.0, max_send_burst=1.0)
    mailer = make_mailer(store, outbox_max_attempts=2, outbox_retry_delay=0.01)
    production.sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [reader("x")]},
        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
    )
    entry = mailer.enqueue(note(1))
    OutboxRunner(mailer).run(until_empty=True)
    done = rows.entry(store, entry.id)
    assert done is not None
    assert (done.status, done.attempts) == ("failed", 2)
    assert done.error is not None
    assert "after 2 tries" in done.error


def test_refusals_are_failed_and_suppressed_rows_are_not_sent(
    production: SandboxClient, store: Store
) -> None:
    mailer = make_mailer(store)
    store.suppress(reader(2), reason="bounce", source="feedback")
    refused = mailer.enqueue(Message(sender="nobody@unverified.example", to=[reader(1)], text="x"))
    suppressed = mailer.enqueue(note(2))
    assert OutboxRunner(mailer).run(until_empty=True).outcomes == {"failed": 2}
    first = rows.entry(store, refused.id)
    assert first is not None
    assert first.error is not None
    assert "IdentityNotVerified" in first.error
    second = rows.entry(store, suppressed.id)
    assert second is not None
    assert second.error is not None
    assert "suppression list" in second.error
    assert mailbox(production) == {}


def test_guard_tripped_pauses_bulk_rows_only(production: SandboxClient, store: Store) -> None:
    production.sesv2.create_email_template(
        TemplateName="news", TemplateContent={"Subject": "Hi", "Text": "x"}
    )
    mailer = make_mailer(store)
    guard_records.record_trip(
        store,
        rate="bounce_rate",
        value=0.043,
        threshold=0.04,
        detail="bounce rate 4.30% reached the guard's line of 4.00%",
        figures={},
    )
    bulk = mailer.enqueue(
        TemplateMessage(sender=SENDER, to=[reader(1)], template="news", bulk=True)
    )
    transactional = mailer.enqueue(note(2))
    status = outbox_status(store)
    assert status.paused == "paused: bounce rate 4.3% >= 4%"
    assert OutboxRunner(mailer).run(until_empty=True).outcomes == {"sent": 1}
    assert rows.entry(store, bulk.id).status == "queued"  # type: ignore[union-attr]
    assert rows.entry(store, transactional.id).status == "sent"  # type: ignore[union-attr]
    assert mailbox(production) == {reader(2): 1}


def test_guard_blocking_transactional_sends_pauses_every_row(
    production: SandboxClient, store: Store
) -> None:
    mailer = make_mailer(store, guard_blocks_transactional=True)
    guard_records.record_trip(
        store,
        rate="ses_account",
        value=None,
        threshold=None,
        detail="SES says EnforcementStatus is PROBATION",
        figures={},
    )
    entry = mailer.enqueue(note(1))
    assert outbox_status(store).paused == "paused: SES says EnforcementStatus is PROBATION"
    assert OutboxRunner(mailer).run(until_empty=True).outcomes == {}
    assert rows.entry(store, entry.id).status == "queued"  # type: ignore[union-attr]


def test_rows_of_a_runner_that_went_away_become_unknown_and_a_person_decides(
    production: SandboxClient, store: Store
) -> None:
    mailer = make_mailer(store, outbox_lease=60.0)
    entries = [mailer.enqueue(note(n)) for n in range(4)]
    # A runner on another machine claimed three rows, started two, and was never heard of.
    claimed = rows.claim(store, claimer="elsewhere:1:abc", limit=3, include_bulk=True)
    for entry in claimed[:2]:
        assert rows.start(store, entry.id, claimer="elsewhere:1:abc")
    runner = OutboxRunner(mailer)
    assert runner.run(until_empty=True).outcomes == {"sent": 1}
    assert rows.counts(store)["sending"] == 3  # within the lease: left alone
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    assert rows.expire_claims(store, claimed_before=later) == (2, 1)
    # The claimed row it never started cannot be started by it any more.
    assert not rows.start(store, claimed[2].id, claimer="elsewhere:1:abc")
    assert outbox_status(store).counts["unknown"] == 2
    assert runner.run(until_empty=True).outcomes == {"sent": 1}  # the unstarted one
    again = retry(store, entries[0].id)
    assert again is not None
    assert again.status == "queued"
    settled = resolve(store, entries[1].id, sent=True)
    assert settled is not None
    assert settled.status == "sent"
    assert resolve(store, entries[1].id, sent=False).status == "sent"  # type: ignore[union-attr]
    assert runner.run(until_empty=True).outcomes == {"sent": 1}
    assert mailbox(production) == {reader(0): 1, reader(2): 1, reader(3): 1}


def test_a_slow_runner_still_records_what_it_sent_after_its_claim_expired(
    production: SandboxClient, store: Store
) -> None:
    entry = make_mailer(store).enqueue(note(1))
    [claimed] = rows.claim(store, claimer="slow:1:abc", limit=1, include_bulk=True)
    assert rows.start(store, claimed.id, claimer="slow:1:abc")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    assert rows.expire_claims(store, claimed_before=later) == (1, 0)  # taken for gone
    # The runner was alive: SES answered, and what it knows replaces the guess.
    assert rows.finish(store, claimed.id, claimer="slow:1:abc", status=OutboxStatus.SENT)
    found = rows.entry(store, entry.id)
    assert found is not None
    assert found.status == "sent"
    # Another claimer's word does not count.
    assert not rows.finish(store, claimed.id, claimer="other:2:def", status=OutboxStatus.FAILED)


@pytest.mark.postgres
def test_runner_threads_on_postgresql_never_send_a_row_twice(
    production: SandboxClient, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    setup = Store(database_url)
    enqueue_many(setup, [(note(n), f"k{n}") for n in range(200)])
    reports = []

    def work() -> None:
        own = Store(database_url)
        try:
            reports.append(OutboxRunner(make_mailer(own), batch=5).run(until_empty=True))
        finally:
            own.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.outcomes.get(RunOutcome.SENT, 0) for r in reports) == 200
    assert sum(1 for r in reports if r.outcomes.get(RunOutcome.SENT)) >= 2  # the work was shared
    assert mailbox(production) == {reader(n): 1 for n in range(200)}
    assert rows.counts(setup)["sent"] == 200
    setup.close()


class FlakyStore(Store):
    """Fails the first record before the send, or the first record after it."""

    def __init__(self, url: str, *, when: str) -> None:
        super().__init__(url)
        self.when = when

    def begin_send(self, *args: Any, **kwargs: Any) -> Intent:
        if self.when == "before":
            self.when = ""
            raise StoreUnavailable("database restarting")
        return super().begin_send(*args, **kwargs)

    def finish_send(self, message_id: int, **kwargs: Any) -> None:
        if self.when == "after" and kwargs.get("status") == "sent":
            self.when = ""
            raise StoreUnavailable("connection lost")
        super().finish_send(message_id, **kwargs)


@pytest.mark.parametrize(("when", "status"), [("before", "sent"), ("after", "sent")])
def test_a_store_failure_around_the_send_is_never_a_second_send(
    production: SandboxClient, database_url: str, when: str, status: str
) -> None:
    store = FlakyStore(database_url, when=when)
    mailer = make_mailer(store, outbox_retry_delay=0.01)
    entry = mailer.enqueue(note(1))
    outcomes = OutboxRunner(mailer).run(until_empty=True).outcomes
    done = rows.entry(store, entry.id)
    assert done is not None
    assert done.status == status
    if when == "before":
        assert outcomes == {"requeued": 1, "sent": 1}
    else:
        assert outcomes == {"sent": 1}
        assert done.error is not None
        assert "was sent as" in done.error
    assert mailbox(production) == {reader(1): 1}
    store.close()
