"""The store on SQLite and PostgreSQL: migrations, messages, the suppression list, errors."""

from __future__ import annotations

import datetime as dt
import gc
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from courrier.errors import ConfigurationError, InvalidRecord, StoreError, StoreUnavailable
from courrier.statuses import MessageStatus
from courrier.store import Store
from courrier.store.engine import MIGRATION_LOCK as _MIGRATION_LOCK
from tests.conftest import postgres_schema
from tests.fakes import wait_until

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "courrier" / "store" / "migrations"


def head() -> str:
    """The one head of the migration files (so that a new migration needs no edit here)."""
    found = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert found is not None
    return found


def test_migrations_are_idempotent_and_complete(store: Store, database_url: str) -> None:
    store.migrate()
    again = Store(database_url)
    try:
        tables = set(inspect(again.engine).get_table_names())
        with again.engine.connect() as conn:
            version = conn.execute(text("select version_num from alembic_version")).scalar()
    finally:
        again.close()
    assert {
        "messages",
        "recipients",
        "suppressions",
        "feedback_events",
        "sns_receipts",
        "send_rates",
        "outbox",
        "recipient_hours",
        "unsubscribes",
        "alembic_version",
    } <= tables
    assert version == head()


def test_sqlite_uses_wal(tmp_path: pytest.TempPathFactory) -> None:
    store = Store(f"sqlite:///{tmp_path}/wal.db")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_message_lifecycle(store: Store) -> None:
    message_id = store.record_message(
        sender="a@example.com",
        subject="Hi",
        configuration_set="set",
        recipients=[("B@Example.org", "to", "pending"), ("c@example.org", "bcc", "suppressed")],
    )
    store.finish_send(message_id, status=MessageStatus.SENT, ses_message_id="ses-1")
    record = store.message(message_id)
    assert record is not None
    assert record.status == "sent"
    assert [(r.address, r.kind, r.status) for r in record.recipients] == [
        ("b@example.org", "to", "sent"),
        ("c@example.org", "bcc", "suppressed"),
    ]
    assert store.message_by_ses_id("ses-1") == record
    assert store.message(999) is None
    with pytest.raises(StoreError, match="no message 999"):
        store.finish_send(999, status=MessageStatus.SENT)


def test_ses_message_ids_are_unique(store: Store) -> None:
    first = store.record_message(
        sender="a@example.com",
        subject="",
        configuration_set=None,
        recipients=[("b@example.org", "to", "pending")],
    )
    second = store.record_message(
        sender="a@example.com",
        subject="",
        configuration_set=None,
        recipients=[("b@example.org", "to", "pending")],
    )
    store.finish_send(first, status=MessageStatus.SENT, ses_message_id="same")
    with pytest.raises(StoreError, match="database error"):
        store.finish_send(second, status=MessageStatus.SENT, ses_message_id="same")
    record = store.message(second)
    assert record is not None
    assert record.status == "pending"  # the failed transaction changed nothing


def test_suppression_list(store: Store) -> None:
    store.suppress("X@Example.com", reason="bounce", source="feedback", detail="5.1.1")
    [entry] = store.suppressions()
    first_seen = entry.first_seen
    store.suppress("x@example.com", reason="complaint", source="feedback")
    [entry] = store.suppressions()
    assert (entry.address, entry.reason, entry.first_seen) == (
        "x@example.com",
        "complaint",
        first_seen,
    )
    assert entry.last_seen >= first_seen
    assert store.suppressions(reason="bounce") == []
    assert store.suppressed_among(["X@EXAMPLE.COM", "y@example.com"]) == {"x@example.com"}
    assert store.unsuppress("x@example.com") is True
    assert store.unsuppress("x@example.com") is False
    assert store.suppressed_among([]) == set()


def test_expiry(store: Store) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.suppress("old@example.com", reason="bounce", source="feedback", expires_at=past)
    store.suppress("new@example.com", reason="bounce", source="feedback", expires_at=future)
    assert store.suppressed_among(["old@example.com", "new@example.com"]) == {"new@example.com"}


def test_bad_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="cannot use database URL"):
        Store("nonsense://")


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="migrating the store failed"):
        Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_concurrent_suppressions_of_one_address(database_url: str) -> None:
    import threading

    stores = [Store(database_url) for _ in range(6)]
    errors: list[Exception] = []

    def suppress(store: Store, n: int) -> None:
        try:
            for _ in range(5):
                store.suppress("race@example.com", reason="bounce", source=f"worker-{n}")
        except Exception as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=suppress, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [s.address for s in stores[0].suppressions()] == ["race@example.com"]
    for opened in stores:
        opened.close()


_OPEN_WHEN_TOLD = """
import os, sys, time
go = sys.argv[2]
open(sys.argv[3], "w").close()  # started: waiting for the signal
while not os.path.exists(go):
    time.sleep(0.001)
from courrier.store import Store
from courrier.store.engine import MIGRATION_LOCK as _MIGRATION_LOCK
Store(sys.argv[1]).close()
"""


def test_four_processes_open_a_fresh_database_at_once(database_url: str, tmp_path: Path) -> None:
    """Migrations take turns: nobody races on Alembic's version table."""
    go = tmp_path / "go"
    started = [tmp_path / f"started-{n}" for n in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_WHEN_TOLD, database_url, str(go), str(ready)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in started
    ]
    # Every process is running and waits for the signal: they then open the store together.
    wait_until(lambda: all(ready.exists() for ready in started), timeout=60)
    go.touch()
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert [err for err, code in outcomes if code != 0] == []
    store = Store(database_url, migrate=False)
    with store.engine.connect() as conn:
        versions = conn.execute(text("select version_num from alembic_version")).scalars().all()
    store.close()
    assert versions == [head()]


def test_unpaired_surrogates_are_invalid_records(store: Store) -> None:
    with pytest.raises(InvalidRecord):
        store.suppress("\ud800@example.com", reason="bounce", source="test")
    store.suppress("fine@example.com", reason="bounce", source="test")  # the store is fine


@pytest.mark.postgres
@pytest.mark.parametrize(
    "address", ["nul\x00@example.com", "long" * 100 + "@example.com"], ids=["nul", "too-long"]
)
def test_values_postgresql_refuses_are_invalid_records(address: str) -> None:
    """SQLite stores these; the feedback decoder refuses them first so both stores agree."""
    with postgres_schema() as url:
        store = Store(url)
        with pytest.raises(InvalidRecord):
            store.suppress(address, reason="bounce", source="test")
        store.suppress("fine@example.com", reason="bounce", source="test")
        store.close()


def test_unreachable_database_is_unavailable_not_unusable() -> None:
    with pytest.raises(StoreUnavailable):
        Store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_read_after_write_transactions_wait_their_turn(tmp_path: Path) -> None:
    """SQLite: four threads that read then write never fail with 'database is locked'."""
    import threading

    store = Store(f"sqlite:///{tmp_path}/turns.db")
    errors: list[Exception] = []

    def work() -> None:
        for n in range(15):
            try:
                message = store.record_message(
                    sender="a@example.com",
                    subject="s",
                    configuration_set=None,
                    recipients=[("b@example.com", "to", "pending")],
                )
                store.finish_send(
                    message,
                    status=MessageStatus.SENT,
                    ses_message_id=f"{threading.get_ident()}-{n}",
                )
            except Exception as err:  # collected and asserted below
                errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store.close()


def test_sqlite_commits_survive_a_power_cut(tmp_path: pytest.TempPathFactory) -> None:
    """WAL with synchronous=FULL: every commit is synced, not only at checkpoints."""
    store = Store(f"sqlite:///{tmp_path}/full.db")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    store.close()


def test_an_up_to_date_store_opens_while_another_process_holds_the_write_lock(
    database_url: str,
) -> None:
    """Opening checks the schema with a read: a long writer (a bulk import) must not keep
    every other command out, as it did when the check itself took the write lock."""
    import threading

    Store(database_url).close()  # migrated once
    holder = Store(database_url, migrate=False)
    outcome: list[object] = []

    def open_and_read() -> None:
        try:
            opened = Store(database_url)
            outcome.append(opened.suppressions())
            opened.close()
        except StoreError as err:
            outcome.append(err)

    with holder.transaction() as session:  # SQLite: BEGIN IMMEDIATE, the write lock
        session.execute(text("DELETE FROM suppressions"))
        if holder.dialect == "postgresql":  # what a migration in progress holds
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        opener = threading.Thread(target=open_and_read)
        opener.start()
        opener.join(timeout=3)  # SQLite's busy timeout is 5 s: well before it
        done = not opener.is_alive()
    opener.join()
    holder.close()
    assert done
    assert outcome == [[]]


def test_a_store_dropped_without_close_closes_its_connections(database_url: str) -> None:
    store = Store(database_url)
    store.suppress("gone@example.com", reason="manual", source="manual")
    assert store.suppressions()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del store
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
