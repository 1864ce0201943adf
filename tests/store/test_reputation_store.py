"""The reputation tables: migration 0003 matches the models; trips and doctor runs."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from courrier.store import Store
from courrier.store.guard import (
    last_doctor_run,
    open_trip,
    record_doctor_run,
    record_trip,
    reset_trip,
    trips,
)
from courrier.store.tables import SEARCH_INDEXES, SEARCH_TABLES, Base


def test_migrations_match_the_models(store: Store) -> None:
    def declared(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        undeclared = {"index": SEARCH_INDEXES, "table": SEARCH_TABLES}.get(kind, frozenset())
        return name not in undeclared

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": declared})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_one_open_trip_at_a_time(store: Store) -> None:
    first = record_trip(
        store, rate="bounce_rate", value=0.05, threshold=0.04, detail="over", figures={"n": 1}
    )
    assert first is not None
    assert first.figures == {"n": 1}
    assert (
        record_trip(
            store,
            rate="complaint_rate",
            value=0.01,
            threshold=0.0008,
            detail="also over",
            figures={},
        )
        is None
    )
    assert open_trip(store) == first
    closed = reset_trip(store, "fixed")
    assert closed is not None
    assert (closed.id, closed.reset_note) == (first.id, "fixed")
    assert open_trip(store) is None
    assert reset_trip(store) is None
    second = record_trip(
        store,
        rate="ses_account",
        value=None,
        threshold=None,
        detail="SES says PROBATION",
        figures={},
    )
    assert second is not None
    assert [t.id for t in trips(store)] == [second.id, first.id]


def test_doctor_runs_keep_the_latest(store: Store) -> None:
    assert last_doctor_run(store) is None
    record_doctor_run(
        store, "failed", [{"check": "a", "status": "failed", "detail": "", "fix": ""}]
    )
    record_doctor_run(store, "ok", [{"check": "a", "status": "ok", "detail": "fine", "fix": ""}])
    latest = last_doctor_run(store)
    assert latest is not None
    assert latest.status == "ok"
    assert latest.checks[0]["detail"] == "fine"
