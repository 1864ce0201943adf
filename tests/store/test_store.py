"""The store on SQLite and PostgreSQL: migrations, messages, the suppression list, errors."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text

from courrier.errors import ConfigurationError, StoreError
from courrier.store import Store


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
        "alembic_version",
    } <= tables
    assert version == "0003"


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
    store.finish_send(message_id, status="sent", ses_message_id="ses-1")
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
        store.finish_send(999, status="sent")


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
    store.finish_send(first, status="sent", ses_message_id="same")
    with pytest.raises(StoreError, match="database error"):
        store.finish_send(second, status="sent", ses_message_id="same")
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
