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
from courrier.store.tables import DoctorRunRow, GuardTripRow, TenantGuardTripRow, utcnow

__all__ = [
    "DoctorRun",
    "TripRecord",
    "last_doctor_run",
    "open_trip",
    "record_doctor_run",
    "record_trip",
    "reset_trip",
    "tripped_tenants",
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
    #: The tenant whose guard tripped; None: the account's.
    tenant: str | None = None

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
            "tenant": self.tenant,
        }


@dataclass(frozen=True)
class DoctorRun:
    ran_at: dt.datetime
    status: str
    checks: list[dict[str, str]]


def _record(row: GuardTripRow | TenantGuardTripRow) -> TripRecord:
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
        tenant=row.tenant if isinstance(row, TenantGuardTripRow) else None,
    )


def _open(tenant: str | None) -> Any:
    """The condition that selects the open trip: the account's, or the tenant's."""
    if tenant is None:
        return GuardTripRow.open_slot == 1
    return TenantGuardTripRow.open_tenant == tenant


def _table(tenant: str | None) -> Any:
    return GuardTripRow if tenant is None else TenantGuardTripRow


def open_trip(store: Store, tenant: str | None = None) -> TripRecord | None:
    """The open trip of the account's guard, or of ``tenant``'s; None when not tripped."""
    with store.transaction() as session:
        row = session.scalar(select(_table(tenant)).where(_open(tenant)))
        return _record(row) if row else None


def tripped_tenants(store: Store) -> list[str]:
    """The tenants whose guard is tripped now."""
    with store.transaction() as session:
        found = session.scalars(
            select(TenantGuardTripRow.tenant).where(TenantGuardTripRow.open_tenant.is_not(None))
        )
        return sorted(found)


def record_trip(
    store: Store,
    *,
    rate: str,
    value: float | None,
    threshold: float | None,
    detail: str,
    figures: dict[str, Any],
    tenant: str | None = None,
) -> TripRecord | None:
    """Trip the guard (the account's, or ``tenant``'s); None when it was already tripped.

    The insert takes the one open slot (per tenant) or nothing: of any number of processes
    tripping at once, exactly one gets the record back (and fires the hooks).
    """
    table = _table(tenant)
    slot: dict[str, Any] = (
        {"open_slot": 1} if tenant is None else {"open_tenant": tenant, "tenant": tenant}
    )
    with store.transaction() as session:
        trip_id = session.execute(select(table.id).where(_open(tenant))).scalar()
        if trip_id is not None:
            return None
        won = _insert(
            session,
            table.__table__,
            {
                **slot,
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
        row = session.scalar(select(table).where(_open(tenant)))
        assert row is not None
        return _record(row)


def reset_trip(
    store: Store, note: str | None = None, *, tenant: str | None = None
) -> TripRecord | None:
    """Close the open trip (the account's, or ``tenant``'s); returns it, or None when the
    guard was not tripped."""
    table = _table(tenant)
    closed: dict[str, Any] = {"open_slot": None} if tenant is None else {"open_tenant": None}
    with store.transaction() as session:
        row = session.scalar(select(table).where(_open(tenant)).with_for_update())
        if row is None:
            return None
        session.execute(
            update(table)
            .where(table.id == row.id)
            .values(**closed, reset_at=utcnow(), reset_note=note)
        )
        session.refresh(row)
        return _record(row)


def trips(store: Store, *, limit: int = 20, tenant: str | None = None) -> list[TripRecord]:
    """The latest trips (the account's, or ``tenant``'s), newest first."""
    table = _table(tenant)
    with store.transaction() as session:
        query = select(table).order_by(table.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(TenantGuardTripRow.tenant == tenant)
        return [_record(row) for row in session.scalars(query)]


def record_doctor_run(store: Store, status: str, checks: list[dict[str, str]]) -> None:
    with store.transaction() as session:
        session.add(DoctorRunRow(ran_at=utcnow(), status=status, checks=json.dumps(checks)))


def last_doctor_run(store: Store) -> DoctorRun | None:
    with store.transaction() as session:
        row = session.scalar(select(DoctorRunRow).order_by(DoctorRunRow.id.desc()).limit(1))
        if row is None:
            return None
        return DoctorRun(aware(row.ran_at), row.status, json.loads(row.checks))
