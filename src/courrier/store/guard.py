"""The reputation guard's record: its trips (at most one open), and doctor results."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from courrier.store.engine import aware
from courrier.store.feedback import _insert
from courrier.store.store import Store
from courrier.store.tables import DoctorRunRow, GuardTripRow, utcnow

__all__ = [
    "DoctorRun",
    "TripRecord",
    "last_doctor_run",
    "open_trip",
    "record_doctor_run",
    "record_trip",
    "reset_trip",
    "trips",
]


@dataclass(frozen=True)
class TripRecord:
    id: int
    tripped_at: dt.datetime
    rate: str
    value: float | None
    threshold: float | None
    detail: str
    figures: dict[str, Any]
    reset_at: dt.datetime | None
    reset_note: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes in ISO 8601."""
        return {
            "id": self.id,
            "tripped_at": self.tripped_at.isoformat(),
            "rate": self.rate,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
            "figures": self.figures,
            "reset_at": self.reset_at.isoformat() if self.reset_at else None,
            "reset_note": self.reset_note,
        }


@dataclass(frozen=True)
class DoctorRun:
    ran_at: dt.datetime
    status: str
    checks: list[dict[str, str]]


def _record(row: GuardTripRow) -> TripRecord:
    return TripRecord(
        id=row.id,
        tripped_at=aware(row.tripped_at),
        rate=row.rate,
        value=row.value,
        threshold=row.threshold,
        detail=row.detail,
        figures=json.loads(row.figures),
        reset_at=aware(row.reset_at) if row.reset_at else None,
        reset_note=row.reset_note,
    )


def open_trip(store: Store) -> TripRecord | None:
    with store.transaction() as session:
        row = session.scalar(select(GuardTripRow).where(GuardTripRow.open_slot == 1))
        return _record(row) if row else None


def record_trip(
    store: Store,
    *,
    rate: str,
    value: float | None,
    threshold: float | None,
    detail: str,
    figures: dict[str, Any],
) -> TripRecord | None:
    """Trip the guard; None when it was already tripped.

    The insert takes the one open slot or nothing: of any number of processes tripping at
    once, exactly one gets the record back (and fires the hooks).
    """
    with store.transaction() as session:
        trip_id = session.execute(
            select(GuardTripRow.id).where(GuardTripRow.open_slot == 1)
        ).scalar()
        if trip_id is not None:
            return None
        won = _insert(
            session,
            GuardTripRow.__table__,
            {
                "open_slot": 1,
                "tripped_at": utcnow(),
                "rate": rate,
                "value": value,
                "threshold": threshold,
                "detail": detail,
                "figures": json.dumps(figures, sort_keys=True, default=str),
            },
        )
        if not won:
            return None
        row = session.scalar(select(GuardTripRow).where(GuardTripRow.open_slot == 1))
        assert row is not None
        return _record(row)


def reset_trip(store: Store, note: str | None = None) -> TripRecord | None:
    """Close the open trip; returns it, or None when the guard was not tripped."""
    with store.transaction() as session:
        row = session.scalar(
            select(GuardTripRow).where(GuardTripRow.open_slot == 1).with_for_update()
        )
        if row is None:
            return None
        session.execute(
            update(GuardTripRow)
            .where(GuardTripRow.id == row.id)
            .values(open_slot=None, reset_at=utcnow(), reset_note=note)
        )
        session.refresh(row)
        return _record(row)


def trips(store: Store, *, limit: int = 20) -> list[TripRecord]:
    """The latest trips, newest first."""
    with store.transaction() as session:
        rows = session.scalars(select(GuardTripRow).order_by(GuardTripRow.id.desc()).limit(limit))
        return [_record(row) for row in rows]


def record_doctor_run(store: Store, status: str, checks: list[dict[str, str]]) -> None:
    with store.transaction() as session:
        session.add(DoctorRunRow(ran_at=utcnow(), status=status, checks=json.dumps(checks)))


def last_doctor_run(store: Store) -> DoctorRun | None:
    with store.transaction() as session:
        row = session.scalar(select(DoctorRunRow).order_by(DoctorRunRow.id.desc()).limit(1))
        if row is None:
            return None
        return DoctorRun(aware(row.ran_at), row.status, json.loads(row.checks))
