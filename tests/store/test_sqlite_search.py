"""SQLite's trigram indexes (migration 0012): the rows a scan gives, kept in step with every
write, backfilled and dropped by the migration, and skipped when SQLite cannot make them."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, inspect, text, update

from courrier.store import Store, subjects
from courrier.store import suppression_list as suppressions
from courrier.store.search import find_messages
from courrier.store.suppression_list import count_suppressions, suppression_page
from courrier.store.tables import MessageRow, RecipientRow, SuppressionRow
from tests.store.test_search import ADDRESSES, QUERIES, expected_messages, fill

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "courrier" / "store" / "migrations"
SEARCH_TABLES = {"messages_search", "suppressions_search"}
#: LIKE's own characters, FTS5's quote, case pairs ASCII and not, letters whose lower case
#: is longer or another script's, and characters outside the BMP.
CHARACTERS = "aAbBzZ0 %_\\\"'@.-éÉßẞİ\u0131Kkﬃ\u03a3\u03c3\u03c2日本😀"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path}/courrier.db")
    yield opened
    opened.close()


def _alembic(store: Store, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) & SEARCH_TABLES


def _check_integrity(store: Store) -> None:
    """FTS5's own check that the index holds exactly what the messages hold."""
    with store.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO messages_search (messages_search) VALUES ('integrity-check')")
        )
        indexed = connection.execute(
            text("SELECT address FROM suppressions_search ORDER BY address")
        ).scalars()
        stored = connection.execute(
            text("SELECT address FROM suppressions ORDER BY address")
        ).scalars()
        assert list(indexed) == list(stored)


def _replace(store: Store, subjects: list[str], addresses: list[str]) -> None:
    with store.transaction() as session:
        session.execute(delete(MessageRow))
        session.execute(delete(SuppressionRow))
        created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for n, subject in enumerate(subjects):
            message = MessageRow(
                ses_message_id=f"ses-{n}",
                sender="news@example.com",
                subject=subject,
                status="sent",
                created_at=created + dt.timedelta(minutes=n),
            )
            session.add(message)
            session.flush()
            session.add(
                RecipientRow(message_id=message.id, address=f"r{n}@x.org", kind="to", status="sent")
            )
    for address in addresses:
        store.suppress(address, reason="manual", source="manual")


def _results(store: Store, query: str) -> tuple[list[str | None], list[str], int]:
    return (
        [m.ses_message_id for m in find_messages(store, text=query, limit=100)],
        [e.address for e in suppression_page(store, text=query, size=100).entries],
        count_suppressions(store, text=query),
    )


def _scanned(store: Store, query: str) -> tuple[list[str | None], list[str], int]:
    """What the same search finds without the trigram indexes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subjects, "indexed", lambda *_: False)
        patch.setattr(suppressions, "indexed", lambda *_: False)
        return _results(store, query)


texts = st.text(alphabet=CHARACTERS, max_size=12)


@st.composite
def queries(draw: st.DrawFn, among: list[str]) -> str:
    """Any text, or a piece of one of ``among`` with its case changed or not."""
    if not among or draw(st.booleans()):
        return draw(texts)
    whole = draw(st.sampled_from(among))
    start = draw(st.integers(0, len(whole)))
    piece = whole[start : draw(st.integers(start, len(whole)))]
    return draw(st.sampled_from([piece, piece.upper(), piece.lower(), piece.swapcase()]))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subjects=st.lists(texts, max_size=8), addresses=st.lists(texts, max_size=6), data=st.data())
def test_the_indexes_find_what_a_scan_finds(
    sqlite_store: Store, subjects: list[str], addresses: list[str], data: st.DataObject
) -> None:
    _replace(sqlite_store, subjects, addresses)
    for _ in range(4):
        query = data.draw(queries(subjects + addresses))
        assert _results(sqlite_store, query) == _scanned(sqlite_store, query)
    _check_integrity(sqlite_store)


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("query", QUERIES)
def test_searches_use_the_indexes_from_three_characters(sqlite_store: Store, query: str) -> None:
    fill(sqlite_store)
    seen = _statements(sqlite_store)
    assert [m.ses_message_id for m in find_messages(sqlite_store, text=query)] == (
        expected_messages(query, "sqlite")
    )
    wanted = query.replace("\x00", "").strip().lower()
    long_enough = len(wanted) >= 3
    assert any("messages_search MATCH" in s for s in seen) is (long_enough and "@" not in wanted)
    seen.clear()
    suppression_page(sqlite_store, text=query)
    assert any("suppressions_search MATCH" in s for s in seen) is long_enough


def test_the_subject_index_is_read_newest_first(sqlite_store: Store) -> None:
    fill(sqlite_store)
    seen = _statements(sqlite_store)
    find_messages(sqlite_store, text="newsletter 123")
    statement = next(s for s in seen if "messages_search MATCH" in s)
    with sqlite_store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        parameters = ["newsletter 123"] * statement.count("?")
        plan = raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
    details = [str(row[-1]) for row in plan]
    read = next(n for n, d in enumerate(details) if "messages_search VIRTUAL TABLE INDEX" in d)
    # The subjects come out of the index in rowid order: nothing sorts them afterwards.
    assert not any("TEMP B-TREE" in d for d in details[read:]), details


def test_every_write_keeps_the_indexes_in_step(sqlite_store: Store) -> None:
    fill(sqlite_store)
    with sqlite_store.transaction() as session:
        session.execute(
            update(MessageRow).where(MessageRow.ses_message_id == "ses-8").values(subject="renamed")
        )
        session.execute(delete(MessageRow).where(MessageRow.ses_message_id == "ses-6"))
        session.execute(
            update(SuppressionRow)
            .where(SuppressionRow.address == "axb@example.com")
            .values(address="moved@example.com")
        )
    sqlite_store.unsuppress("zoë@example.net")
    sqlite_store.suppress("a%b@example.com", reason="bounce", source="feedback")
    _check_integrity(sqlite_store)
    assert [m.ses_message_id for m in find_messages(sqlite_store, text="renamed")] == ["ses-8"]
    assert find_messages(sqlite_store, text="plain") == []
    assert [m.ses_message_id for m in find_messages(sqlite_store, text="newsletter")] == ["ses-7"]
    assert [e.address for e in suppression_page(sqlite_store, text="example.").entries] == sorted(
        [
            "a%b@example.com",
            "a_b@example.com",
            "back\\slash@example.com",
            "moved@example.com",
            "news@example.com",
            "o'brien@example.com",
            "r123@example.com",
            "r12345@example.com",
        ]
    )


def test_the_migration_backfills_and_downgrades(sqlite_store: Store) -> None:
    _alembic(sqlite_store, "0011", down=True)
    assert _tables(sqlite_store) == set()
    fill(sqlite_store)  # written before the indexes exist
    _alembic(sqlite_store, "head")
    assert _tables(sqlite_store) == SEARCH_TABLES
    _check_integrity(sqlite_store)
    for query in QUERIES:
        assert _results(sqlite_store, query) == _scanned(sqlite_store, query)
    _alembic(sqlite_store, "0011", down=True)
    with sqlite_store.engine.connect() as connection:
        left = connection.execute(
            text("SELECT name FROM sqlite_master WHERE name LIKE '%search%'")
        ).all()
    assert left == []
    sqlite_store.suppress("after@example.com", reason="manual", source="manual")
    assert count_suppressions(sqlite_store, text="after@") == 1


def _no_virtual_tables(connection: Any, _record: Any) -> None:
    def authorize(action: int, *_: Any) -> int:
        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_CREATE_VTABLE else sqlite3.SQLITE_OK

    connection.set_authorizer(authorize)


def test_a_sqlite_without_trigrams_scans(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(f"sqlite:///{tmp_path}/courrier.db", migrate=False)
    # As a SQLite built without FTS5 answers: the virtual table cannot be created.
    event.listen(store.engine, "connect", _no_virtual_tables)
    with caplog.at_level(logging.WARNING, logger="courrier.store.migrations"):
        store.migrate()
    assert "search indexes not created" in caplog.text
    assert _tables(store) == set()
    fill(store)
    for query in QUERIES:
        assert [m.ses_message_id for m in find_messages(store, text=query)] == (
            expected_messages(query, "sqlite")
        )
        wanted = query.replace("\x00", "").strip().lower()
        entries = suppression_page(store, text=query, size=100).entries
        assert [e.address for e in entries] == sorted(a for a in ADDRESSES if wanted in a)
    store.close()


@pytest.mark.parametrize("query", ["example.", "xample.com", "r123", "élise"])
def test_text_in_many_addresses_reads_them_in_order(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    fill(sqlite_store)
    monkeypatch.setattr(suppressions, "FEW", 2)
    seen = _statements(sqlite_store)
    expected = sorted(a for a in ADDRESSES if query in a)
    assert [e.address for e in suppression_page(sqlite_store, text=query).entries] == expected
    assert count_suppressions(sqlite_store, text=query) == len(expected)
    through_index = any("IN (SELECT suppressions_search.address" in s for s in seen)
    assert through_index is (len(expected) < 2)


@pytest.mark.parametrize(
    "trigger", ["messages_search_insert", "suppressions_search_insert", "messages_search_update"]
)
def test_an_index_missing_a_trigger_is_not_used(sqlite_store: Store, trigger: str) -> None:
    """A table rebuilt by a later migration loses its triggers: its index stops following
    it, so the searches scan instead of missing the rows written since."""
    fill(sqlite_store)
    with sqlite_store.engine.begin() as connection:
        connection.execute(text(f"DROP TRIGGER {trigger}"))
    sqlite_store.record_message(
        sender="a@example.com",
        subject="Unindexed zebra",
        configuration_set=None,
        recipients=[("zebra@example.org", "to", "pending")],
    )
    sqlite_store.suppress("zebra@example.org", reason="manual", source="manual")
    seen = _statements(sqlite_store)
    assert [m.subject for m in find_messages(sqlite_store, text="zebra")] == ["Unindexed zebra"]
    assert [e.address for e in suppression_page(sqlite_store, text="zebra").entries] == [
        "zebra@example.org"
    ]
    index = trigger.rsplit("_", 1)[0]
    assert not any(f"{index} MATCH" in s for s in seen)
