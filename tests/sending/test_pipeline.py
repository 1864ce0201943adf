"""The one send pipeline: commits per send, the reading of SES's answers, threads, bulk rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from courrier import BulkDestination
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import BulkEntryResult, SesClient
from courrier.errors import (
    AwsError,
    AwsUnreachable,
    ConfigurationError,
    DailyQuotaExceeded,
    InvalidMessage,
    MessageRejected,
    OutcomeUnknown,
    ReputationGuardTripped,
    SendingPaused,
    StoreError,
    StoreUnavailable,
    Throttled,
)
from courrier.message import Message
from courrier.sending import Mailer
from courrier.sending.outbox import OutboxRunner
from courrier.sending.pipeline import Outcome, classify
from courrier.settings import Settings
from courrier.statuses import RunOutcome
from courrier.store import Store
from courrier.store import outbox as rows
from tests.conftest import UNSUBSCRIBE, SandboxClient
from tests.sending.test_mailer import SENDER


@contextmanager
def commits(store: Store) -> Iterator[list[int]]:
    """Count the transactions the store commits (every store, through SQLAlchemy)."""
    counted = [0]

    def count(_connection: Any) -> None:
        counted[0] += 1

    event.listen(store.engine, "commit", count)
    try:
        yield counted
    finally:
        event.remove(store.engine, "commit", count)


def one(n: int) -> Message:
    return Message(sender=SENDER, to=[f"reader{n}@example.net"], text="x")


@pytest.fixture
def production(sandbox: SandboxClient, ses: SesClient) -> SandboxClient:
    sandbox.set_account(production=True, max_send_rate=1000.0)
    return sandbox


def test_a_one_recipient_send_commits_twice(production: SandboxClient, store: Store) -> None:
    """Intent (suppression, record, tokens from the store's bucket) and outcome: two commits,
    once the bucket exists; the guard and the rate are not read on every send."""
    settings = Settings(max_send_rate=1000.0, guard_blocks_transactional=True, **UNSUBSCRIBE)
    mailer = Mailer(store, SesClient(AwsConfig(read_timeout=10)), settings=settings)
    store.suppress("gone@example.net", reason="bounce", source="feedback")
    mailer.send(one(0))  # creates the bucket row
    sends = 20
    with commits(store) as counted:
        for n in range(1, sends + 1):
            assert mailer.send(one(n)).sent
        suppressed = mailer.send(Message(sender=SENDER, to=["gone@example.net"], text="x"))
    assert suppressed.status == "suppressed"
    assert counted[0] <= 2 * (sends + 1)


def test_a_send_is_a_few_statements(production: SandboxClient, store: Store) -> None:
    """One statement a step: the suppression check, the message, its recipients (all in one
    statement, their rollup bits with them), the hour counts, the bucket (held with the
    store's clock on PostgreSQL), the bucket's update; then the message, its recipients read
    (locked) with any feedback that came first, their status and bits in one statement, and
    the hour counts again. PostgreSQL holds the SES id against feedback being applied at
    the same moment; SQLite adds a BEGIN IMMEDIATE to each transaction instead."""
    mailer = Mailer(
        store, SesClient(AwsConfig(read_timeout=10)), settings=Settings(max_send_rate=1000.0)
    )
    mailer.send(one(0))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        message = Message(
            sender=SENDER,
            to=["a@example.net"],
            cc=["b@example.net"],
            bcc=["c@example.net"],
            text="x",
        )
        assert mailer.send(message).sent
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    expected = 13 if store.dialect == "sqlite" else 12
    assert len(statements) == expected, statements


def test_an_outbox_row_commits_twice_and_a_claim(production: SandboxClient, store: Store) -> None:
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=10)),
        settings=Settings(max_send_rate=1000.0, **UNSUBSCRIBE),
    )
    mailer.send(one(0))
    rows_queued = 40
    for n in range(1, rows_queued + 1):
        mailer.enqueue(one(n))
    runner = OutboxRunner(mailer, batch=10)
    runner.recover()
    with commits(store) as counted:
        report = runner.run(until_empty=True)
    assert report.outcomes == {"sent": rows_queued}
    # Two per row; then one claim per ten rows and the runner's own looks around (the guard,
    # the next due row), a handful per run whatever the rows: 40 rows commit at most 90.
    assert counted[0] <= 2 * rows_queued + 10


ERRORS: list[tuple[BaseException, bool, Outcome]] = [
    (Throttled("t"), True, Outcome.RETRY),
    (AwsUnreachable("u"), False, Outcome.RETRY),
    (DailyQuotaExceeded("q"), True, Outcome.RETRY),
    (SendingPaused("p"), True, Outcome.RETRY),
    (ReputationGuardTripped("g", rate="bounce_rate"), False, Outcome.RETRY),
    (OutcomeUnknown("lost"), True, Outcome.UNKNOWN),
    (MessageRejected("r"), True, Outcome.FAILED),
    (InvalidMessage("bad"), False, Outcome.FAILED),
    (StoreUnavailable("down"), False, Outcome.RETRY),
    (ConfigurationError("no credentials"), True, Outcome.RETRY),
    (AwsError("x", operation="GetAccount"), True, Outcome.RETRY),
    (AwsError("x", operation="SendEmail"), True, Outcome.UNKNOWN),
    (KeyboardInterrupt(), True, Outcome.UNKNOWN),
    (KeyboardInterrupt(), False, Outcome.FAILED),
]


@pytest.mark.parametrize(("error", "reached", "outcome"), ERRORS)
def test_classify_reads_every_error(error: BaseException, reached: bool, outcome: Outcome) -> None:
    verdict = classify(error, reached_ses=reached)
    assert verdict.outcome is outcome
    assert verdict.error is not None
    assert type(error).__name__ in verdict.error


def test_classify_a_record_lost_after_the_send_is_sent() -> None:
    lost = StoreError("connection lost")
    lost.ses_message_id = "0100abc"
    verdict = classify(lost, reached_ses=False)
    assert (verdict.outcome, verdict.ses_message_id) == (Outcome.SENT, "0100abc")


@given(
    status=st.sampled_from(
        ["SUCCESS", "MESSAGE_REJECTED", "ACCOUNT_THROTTLED", "TRANSIENT_FAILURE", "FAILED"]
    ),
    message_id=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
    error=st.one_of(st.none(), st.text(max_size=20)),
)
def test_every_bulk_entry_has_a_verdict(
    status: str, message_id: str | None, error: str | None
) -> None:
    verdict = classify(BulkEntryResult(status, message_id, error), reached_ses=True)
    if status == "SUCCESS" and message_id:
        assert verdict.outcome is Outcome.SENT
    elif status in ("ACCOUNT_THROTTLED", "TRANSIENT_FAILURE"):
        assert verdict.outcome is Outcome.RETRY
        assert verdict.transient
    else:
        assert verdict.outcome is Outcome.FAILED
        assert verdict.error is not None
        assert verdict.error.startswith(status)


#: Only SES's answer about the message itself says that its tenant is not paused.
ANSWERED: list[tuple[str | BaseException | BulkEntryResult, bool]] = [
    ("0100abc", True),
    (MessageRejected("r"), True),
    (BulkEntryResult("SUCCESS", "0100abc", None), True),
    (BulkEntryResult("MESSAGE_REJECTED", None, "r"), True),
    (BulkEntryResult("ACCOUNT_SENDING_PAUSED", None, "p"), False),
    (BulkEntryResult("CONFIGURATION_SET_SENDING_PAUSED", None, "p"), False),
    (BulkEntryResult("ACCOUNT_THROTTLED", None, "t"), False),
    (Throttled("t"), False),
    (SendingPaused("p"), False),
    (DailyQuotaExceeded("q"), False),
    (AwsUnreachable("u"), False),
    (ReputationGuardTripped("g", rate="bounce_rate"), False),
    (OutcomeUnknown("lost"), False),
    (StoreUnavailable("down"), False),
    (InvalidMessage("bad"), False),
]


@pytest.mark.parametrize(("answer", "answered"), ANSWERED)
def test_classify_tells_an_answer_of_ses_about_the_message(
    answer: str | BaseException | BulkEntryResult, answered: bool
) -> None:
    assert classify(answer, reached_ses=True).answered is answered


def test_classify_a_missing_bulk_entry_is_unknown() -> None:
    assert classify(None, reached_ses=True).outcome is Outcome.UNKNOWN


def test_a_500_recipient_campaign_through_the_outbox_costs_10_bulk_calls(
    production: SandboxClient, store: Store
) -> None:
    production.sesv2.create_email_template(
        TemplateName="news", TemplateContent={"Subject": "Hi {{name}}", "Text": "{{name}}"}
    )
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=10)),
        settings=Settings(max_send_rate=1000.0, **UNSUBSCRIBE),
    )
    store.suppress("reader7@example.net", reason="bounce", source="feedback")
    destinations = [
        BulkDestination(f"reader{n}@example.net", {"name": f"r{n}"}) for n in range(500)
    ]
    mailer.enqueue_bulk("news", destinations, sender=SENDER, key="spring")
    report = OutboxRunner(mailer).run(until_empty=True)
    calls = production.control("GET", "/throttles")
    retries = report.outcomes.get(RunOutcome.REQUEUED, 0)
    # 499 destinations (one suppressed) in calls of at most 50: ten, plus any retried.
    assert 10 <= calls["bulk_calls"] <= 10 + retries
    entries = rows.entries(store, limit=1000)
    assert len(entries) == 500
    assert all(e.status in ("sent", "failed") for e in entries)
    by_status = {e.status for e in entries}
    assert by_status == {"sent", "failed"}
    for entry in entries:
        assert entry.message_id is not None
        record = store.message(entry.message_id)
        assert record is not None
        if entry.status == "sent":
            assert record.status == "sent"
            assert record.ses_message_id
    failed = [e for e in entries if e.status == "failed"]
    assert len(failed) == 1  # the suppressed one
    assert failed[0].error is not None
    assert "suppression list" in failed[0].error


def test_threads_share_one_mailer(production: SandboxClient, store: Store) -> None:
    """Eight threads, one Mailer, 80 sends: every one recorded sent once, one bucket."""
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=10)),
        settings=Settings(max_send_rate=1000.0, **UNSUBSCRIBE),
    )
    results: list[Any] = []
    errors: list[BaseException] = []

    def work(start: int) -> None:
        for n in range(start, start + 10):
            try:
                results.append(mailer.send(one(n)))
            except BaseException as err:  # collected and asserted below
                errors.append(err)

    threads = [threading.Thread(target=work, args=(k * 10,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.id for r in results}) == 80
    assert all(r.sent for r in results)
    production.drain()
    delivered = production.control("GET", "/mailbox")["messages"]
    assert sorted(m["recipient"] for m in delivered) == sorted(
        f"reader{n}@example.net" for n in range(80)
    )


def test_a_runner_with_concurrency_keeps_sends_in_flight_and_sends_each_row_once(
    production: SandboxClient, store: Store
) -> None:
    mailer = Mailer(
        store,
        SesClient(AwsConfig(read_timeout=10)),
        settings=Settings(max_send_rate=1000.0, **UNSUBSCRIBE),
    )
    for n in range(60):
        mailer.enqueue(one(n), key=f"c{n}")
    in_flight = [0]
    most = [0]
    lock = threading.Lock()
    send_raw = mailer.ses.send_raw

    def watched(*args: Any, **kwargs: Any) -> str:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            threading.Event().wait(0.02)  # SES's own latency, so that calls overlap
            return send_raw(*args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    mailer.ses.send_raw = watched  # type: ignore[method-assign]
    report = OutboxRunner(mailer, batch=5, concurrency=4).run(until_empty=True)
    assert report.outcomes == {"sent": 60}
    assert most[0] >= 2
    production.drain()
    delivered = [m["recipient"] for m in production.control("GET", "/mailbox")["messages"]]
    assert sorted(delivered) == sorted(f"reader{n}@example.net" for n in range(60))
