"""The outbox table: enqueue (idempotent by key), claim, finish, and what a person decides.

A claim marks rows ``sending`` and commits before anyone calls SES; on PostgreSQL it takes
the rows with ``FOR UPDATE SKIP LOCKED``, so runners on many machines claim disjoint rows
without waiting on each other; on SQLite the claim's transaction holds the write lock
(``BEGIN IMMEDIATE``), one claimer at a time. Just before a row is handed to SES its
``started_at`` is committed: of a runner that went away, only the row it had started may
have reached SES (``unknown``); the others go back to the queue. A start or a finish only
changes a row still ``sending`` under the same claimer.

When SES answers that a tenant is paused, the tenant is held (``tenant_holds``): no claim
takes its rows, in any runner, until the hold ends (its queued rows are due then); then one
claim takes one of them as the probe, and the others wait for its answer: a pause again
holds them once more, an answer of SES that is not a pause lifts the hold
(https://docs.aws.amazon.com/ses/latest/dg/tenants.html). An ended hold whose tenant has
no queued row left is deleted by the next claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courrier.statuses import OutboxStatus
from courrier.store.engine import aware
from courrier.store.store import Store
from courrier.store.tables import OutboxRow, TenantHoldRow, table_of, utcnow

__all__ = [
    "HeldTenant",
    "Hold",
    "NewEntry",
    "OutboxEntry",
    "claim",
    "counts",
    "due_waiting",
    "enqueue",
    "entries",
    "entry",
    "expire_claims",
    "finish",
    "finish_in",
    "held",
    "hold_in",
    "holds",
    "next_due",
    "release",
    "set_status",
    "start",
    "start_in",
]


@dataclass(frozen=True)
class NewEntry:
    key: str
    kind: str
    bulk: bool
    payload: str
    send_at: dt.datetime
    #: The SES tenant of its message (None: the account's).
    tenant: str | None = None


@dataclass(frozen=True)
class Hold:
    """What a finished row says of its tenant's hold: ``until`` given, SES paused the tenant
    (hold its rows until then); None, the row was the probe and SES answered it otherwise
    (lift the hold), or, ``asked`` False, it was settled without an answer of SES (every
    recipient suppressed, the guard, SES unreachable): another row may probe at once."""

    tenant: str
    until: dt.datetime | None = None
    error: str | None = None
    asked: bool = True


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    key: str
    kind: str
    bulk: bool
    payload: str
    send_at: dt.datetime
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    claimed_by: str | None
    claimed_at: dt.datetime | None
    started_at: dt.datetime | None
    error: str | None
    message_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    tenant: str | None = None
    #: Claimed as the one row that asks SES first once its tenant's hold ended.
    probe: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without the payload."""
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "bulk": self.bulk,
            "status": self.status,
            "send_at": self.send_at.isoformat(),
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "claimed_by": self.claimed_by,
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "error": self.error,
            "message_id": self.message_id,
            "tenant": self.tenant,
        }


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        key=row.idempotency_key,
        kind=row.kind,
        bulk=bool(row.bulk),
        payload=row.payload,
        send_at=aware(row.send_at),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=aware(row.next_attempt_at),
        claimed_by=row.claimed_by,
        claimed_at=aware(row.claimed_at) if row.claimed_at else None,
        started_at=aware(row.started_at) if row.started_at else None,
        error=row.error,
        message_id=row.message_id,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        tenant=row.tenant,
    )


#: Rows handed to the driver at once (memory stays bounded for any campaign).
_INSERT_CHUNK = 500


def enqueue(store: Store, new: Sequence[NewEntry]) -> list[tuple[OutboxEntry, bool]]:
    """Insert each entry unless its key exists, in one transaction: (entry, created) each.

    An insert that meets an existing key does nothing (``ON CONFLICT DO NOTHING``), so two
    processes enqueuing the same key at once make one row.
    """
    if not new:
        return []
    now = utcnow()
    table = OutboxRow.__table__
    with store.transaction() as session:
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        held = _held_until(session, {item.tenant for item in new if item.tenant is not None})
        created: set[str] = set()
        # One statement for all rows (SQLAlchemy's "insertmanyvalues" batches them with their
        # RETURNING), compiled once instead of once a row: a campaign queues thousands.
        statement = (
            module.insert(table)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.idempotency_key)
        )
        for start in range(0, len(new), _INSERT_CHUNK):
            rows = [
                {
                    "idempotency_key": item.key,
                    "kind": item.kind,
                    "bulk": item.bulk,
                    "payload": item.payload,
                    "send_at": item.send_at,
                    "status": OutboxStatus.QUEUED,
                    "attempts": 0,
                    "next_attempt_at": max(item.send_at, held.get(item.tenant, item.send_at)),
                    "tenant": item.tenant,
                    "created_at": now,
                    "updated_at": now,
                }
                for item in new[start : start + _INSERT_CHUNK]
            ]
            created.update(session.scalars(statement, rows))
        found: dict[str, OutboxEntry] = {}
        keys = [item.key for item in new]
        for start in range(0, len(keys), 500):
            loaded = session.scalars(
                select(OutboxRow).where(OutboxRow.idempotency_key.in_(keys[start : start + 500]))
            )
            found.update({row.idempotency_key: _entry(row) for row in loaded})
    # A key given twice in one call is created once: by its first occurrence.
    out = []
    for item in new:
        out.append((found[item.key], item.key in created))
        created.discard(item.key)
    return out


def _held_until(session: Session, tenants: set[str]) -> dict[str | None, dt.datetime]:
    """Until when each of ``tenants`` that is held now is: a row queued for it meanwhile is
    due only then, not at the front of ix_outbox_due where every claim would step over it."""
    if not tenants:
        return {}
    found = session.execute(
        select(TenantHoldRow.tenant, TenantHoldRow.held_until).where(
            TenantHoldRow.tenant.in_(sorted(tenants))
        )
    )
    return {tenant: aware(until) for tenant, until in found}


#: A row of a held tenant: no claim takes it but as its tenant's probe.
_HELD = exists().where(TenantHoldRow.tenant == OutboxRow.tenant)


def _due(now: dt.datetime, include_bulk: bool) -> list[Any]:
    conditions = [OutboxRow.status == OutboxStatus.QUEUED, OutboxRow.next_attempt_at <= now]
    if not include_bulk:
        conditions.append(OutboxRow.bulk.is_(False))
    return conditions


def claim(
    store: Store,
    *,
    claimer: str,
    limit: int,
    include_bulk: bool,
    bulk_only: bool = False,
    lease: float = 600.0,
) -> list[OutboxEntry]:
    """Mark up to ``limit`` due rows ``sending`` for ``claimer`` and commit; oldest due first.
    ``bulk_only``: bulk rows only (to fill a SendBulkEmail call). Rows of held tenants are
    left, but one row of each tenant whose hold ended, taken as its probe (for ``lease``
    seconds)."""
    now = utcnow()
    conditions = _due(now, include_bulk)
    if bulk_only:
        conditions.append(OutboxRow.bulk.is_(True))
    with store.transaction() as session:
        probes = _probes(session, conditions, now, limit, lease) if not bulk_only else []
        ids = probes + list(
            session.scalars(
                select(OutboxRow.id)
                .where(*conditions, ~_HELD)
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit - len(probes))
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids))
            .values(
                status=OutboxStatus.SENDING,
                claimed_by=claimer,
                claimed_at=now,
                started_at=None,
                updated_at=now,
            )
        )
        rows = session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids)))
        by_id = {row.id: _entry(row) for row in rows}
    return [replace(by_id[i], probe=True) if i in probes else by_id[i] for i in ids]


def _probes(
    session: Session, due: list[Any], now: dt.datetime, limit: int, lease: float
) -> list[int]:
    """One due row of each tenant whose hold ended and has no live probe, each recorded as
    its tenant's probe: the hold's conditional update lets one claimer win it. Holds of
    tenants with rows this claim cannot take (bulk ones while bulk is off, later ones) are
    passed over, so that they never crowd out the others; those with no queued row left
    are deleted."""
    mine = OutboxRow.tenant == TenantHoldRow.tenant
    useful = or_(
        exists().where(*due, mine),
        ~exists().where(mine, OutboxRow.status == OutboxStatus.QUEUED),
    )
    ended = list(
        session.scalars(
            select(TenantHoldRow.tenant)
            .where(TenantHoldRow.held_until <= now, _no_live_probe(now), useful)
            .order_by(TenantHoldRow.held_until)
            .limit(limit)
        )
    )
    found: list[int] = []
    for tenant in ended:
        row_id = session.scalar(
            select(OutboxRow.id)
            .where(*due, OutboxRow.tenant == tenant)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if row_id is None:
            _drop_if_empty(session, tenant, now)
            continue
        won = session.execute(
            update(TenantHoldRow)
            .where(
                TenantHoldRow.tenant == tenant,
                TenantHoldRow.held_until <= now,
                _no_live_probe(now),
            )
            .values(probe_id=row_id, probe_until=now + dt.timedelta(seconds=lease))
        )
        if getattr(won, "rowcount", 0):
            found.append(row_id)
    return found


def _drop_if_empty(session: Session, tenant: str, now: dt.datetime) -> None:
    """Delete the ended hold of a tenant with no queued row left (all settled, or its probe's
    runner went away): only a probe's answer would delete it, and no probe will come."""
    queued = exists().where(OutboxRow.tenant == tenant, OutboxRow.status == OutboxStatus.QUEUED)
    session.execute(
        delete(TenantHoldRow).where(
            TenantHoldRow.tenant == tenant,
            TenantHoldRow.held_until <= now,
            _no_live_probe(now),
            ~queued,
        )
    )


def _no_live_probe(now: dt.datetime) -> Any:
    return or_(TenantHoldRow.probe_id.is_(None), TenantHoldRow.probe_until <= now)


def hold_in(session: Session, entry_id: int, hold: Hold) -> None:
    """Record what row ``entry_id`` says of its tenant's hold (see :class:`Hold`)."""
    if hold.until is None:
        mine = (TenantHoldRow.tenant == hold.tenant, TenantHoldRow.probe_id == entry_id)
        if hold.asked:
            session.execute(delete(TenantHoldRow).where(*mine))
        else:
            session.execute(
                update(TenantHoldRow).where(*mine).values(probe_id=None, probe_until=None)
            )
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Its queued rows are due when the hold ends: until then every claim's walk along
    # ix_outbox_due would step over them (one of them probes once it ends).
    session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.tenant == hold.tenant,
            OutboxRow.status == OutboxStatus.QUEUED,
            OutboxRow.next_attempt_at < hold.until,
        )
        .values(next_attempt_at=hold.until)
    )
    changes = {
        "held_until": hold.until,
        "held_at": utcnow(),
        "error": hold.error,
        "probe_id": None,
        "probe_until": None,
    }
    # One upsert: runners told of the same pause at once cannot collide.
    session.execute(
        module.insert(TenantHoldRow.__table__)
        .values(tenant=hold.tenant, **changes)
        .on_conflict_do_update(index_elements=["tenant"], set_=changes)
    )


@dataclass(frozen=True)
class HeldTenant:
    """A tenant whose rows the outbox holds."""

    tenant: str
    held_until: dt.datetime
    held_at: dt.datetime
    error: str | None
    #: The row that asks SES first, while its claim stands.
    probe_id: int | None


def held(store: Store, tenant: str) -> bool:
    """Whether ``tenant`` is held now: a row of it claimed before the hold waits for it too
    (unless it is the probe)."""
    with store.transaction(read_only=True) as session:
        return bool(session.scalar(select(exists().where(TenantHoldRow.tenant == tenant))))


def holds(store: Store) -> list[HeldTenant]:
    """The tenants held now, by name."""
    with store.transaction(read_only=True) as session:
        return [
            HeldTenant(
                row.tenant,
                aware(row.held_until),
                aware(row.held_at),
                row.error,
                row.probe_id,
            )
            for row in session.scalars(select(TenantHoldRow).order_by(TenantHoldRow.tenant))
        ]


def _mine(entry_id: int, claimer: str) -> list[Any]:
    return [
        OutboxRow.id == entry_id,
        OutboxRow.status == OutboxStatus.SENDING,
        OutboxRow.claimed_by == claimer,
    ]


def start(store: Store, entry_id: int, *, claimer: str) -> bool:
    """Commit that ``claimer`` hands the row to SES now (one try more); False when the row
    is no longer its own (its claim expired): then it must not be sent."""
    with store.transaction() as session:
        return start_in(session, entry_id, claimer=claimer)


_OUTBOX = table_of(OutboxRow)
# A start and a finish are on every outbox send's path: SQLAlchemy Core, built once.
_START = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("entry_id"),
        _OUTBOX.c.status == OutboxStatus.SENDING,
        _OUTBOX.c.claimed_by == bindparam("claimer"),
        _OUTBOX.c.started_at.is_(None),
    )
    .values(attempts=_OUTBOX.c.attempts + 1)
)
_FINISH = update(_OUTBOX).where(
    _OUTBOX.c.id == bindparam("entry_id"),
    _OUTBOX.c.status.in_((OutboxStatus.SENDING, OutboxStatus.UNKNOWN)),
    _OUTBOX.c.claimed_by == bindparam("claimer"),
)


def start_in(session: Session, entry_id: int, *, claimer: str) -> bool:
    """:func:`start` inside the caller's transaction (a send's intent)."""
    now = utcnow()
    result = session.connection().execute(
        _START, {"entry_id": entry_id, "claimer": claimer, "started_at": now, "updated_at": now}
    )
    return bool(result.rowcount)


def finish(
    store: Store,
    entry_id: int,
    *,
    claimer: str,
    status: OutboxStatus,
    error: str | None = None,
    message_id: int | None = None,
    next_attempt_at: dt.datetime | None = None,
    hold: Hold | None = None,
) -> bool:
    """Record what became of a claimed row (and what it says of its tenant's ``hold``);
    False when it was no longer this claimer's.

    A row another runner took for abandoned (``unknown``, its claim older than the lease)
    while this one was still sending it takes the outcome all the same: the runner that
    sent it knows better than the guess."""
    with store.transaction() as session:
        return finish_in(
            session,
            entry_id,
            claimer=claimer,
            status=status,
            error=error,
            message_id=message_id,
            next_attempt_at=next_attempt_at,
            hold=hold,
        )


def finish_in(
    session: Session,
    entry_id: int,
    *,
    claimer: str,
    status: OutboxStatus,
    error: str | None = None,
    message_id: int | None = None,
    next_attempt_at: dt.datetime | None = None,
    hold: Hold | None = None,
) -> bool:
    """:func:`finish` inside the caller's transaction (a send's outcome)."""
    values: dict[str, Any] = {
        "entry_id": entry_id,
        "claimer": claimer,
        "status": status,
        "error": error,
        "updated_at": utcnow(),
        "started_at": None,
    }
    if message_id is not None:
        values["message_id"] = message_id
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    done = bool(session.connection().execute(_FINISH, values).rowcount)
    if hold is not None and done:
        # A row no longer this claimer's may be another claimer's probe now.
        hold_in(session, entry_id, hold)
    return done


def release(store: Store, ids: Iterable[int], *, claimer: str) -> int:
    """Give claimed rows that were never started back to the queue."""
    wanted = list(ids)
    if not wanted:
        return 0
    with store.transaction() as session:
        released = list(
            session.scalars(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(wanted),
                    OutboxRow.status == OutboxStatus.SENDING,
                    OutboxRow.claimed_by == claimer,
                    OutboxRow.started_at.is_(None),
                )
                .values(
                    status=OutboxStatus.QUEUED,
                    claimed_by=None,
                    claimed_at=None,
                    updated_at=utcnow(),
                )
                .returning(OutboxRow.id)
            )
        )
        if released:
            # A probe given back unsent: the next claim may take another at once. Only this
            # claimer's: a row it no longer holds may be another claimer's probe now.
            session.execute(
                update(TenantHoldRow)
                .where(TenantHoldRow.probe_id.in_(released))
                .values(probe_id=None, probe_until=None)
            )
            _due_when_held_ends(session, released)
        return len(released)


def _due_when_held_ends(session: Session, ids: list[int]) -> None:
    """Rows of a held tenant given back (claimed before the pause) are due when the hold
    ends, as its other queued rows are."""
    until = (
        select(TenantHoldRow.held_until)
        .where(TenantHoldRow.tenant == OutboxRow.tenant)
        .scalar_subquery()
    )
    later = exists().where(
        TenantHoldRow.tenant == OutboxRow.tenant,
        TenantHoldRow.held_until > OutboxRow.next_attempt_at,
    )
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids), later)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


def claimers(store: Store) -> list[str]:
    """Who holds rows in ``sending`` now."""
    with store.transaction(read_only=True) as session:
        return [
            c
            for c in session.scalars(
                select(OutboxRow.claimed_by)
                .where(OutboxRow.status == OutboxStatus.SENDING)
                .distinct()
            )
            if c
        ]


def expire_claims(
    store: Store, *, claimed_before: dt.datetime, gone: Iterable[str] = ()
) -> tuple[int, int]:
    """Rows ``sending`` whose claimer is known to be gone, or whose claim (or start) is older
    than ``claimed_before``: started ones become ``unknown`` (the runner may have called SES
    before it died), the others go back to the queue. (unknown, requeued) counts."""
    gone = list(gone)
    now = utcnow()
    with store.transaction() as session:
        mine = OutboxRow.claimed_by.in_(gone) if gone else None
        started_stale = OutboxRow.started_at < claimed_before
        claimed_stale = OutboxRow.claimed_at < claimed_before
        unknown = session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.SENDING,
                OutboxRow.started_at.is_not(None),
                started_stale if mine is None else (started_stale | mine),
            )
            .values(
                status=OutboxStatus.UNKNOWN,
                error="the runner that was sending it went away: it may have been sent",
                updated_at=now,
            )
        )
        requeued = session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.SENDING,
                OutboxRow.started_at.is_(None),
                claimed_stale if mine is None else (claimed_stale | mine),
            )
            .values(status=OutboxStatus.QUEUED, claimed_by=None, claimed_at=None, updated_at=now)
        )
        return int(getattr(unknown, "rowcount", 0)), int(getattr(requeued, "rowcount", 0))


def due_waiting(store: Store, *, include_bulk: bool) -> int:
    """Queued rows whose ``send_at`` has passed (due now or waiting for a retry)."""
    now = utcnow()
    with store.transaction(read_only=True) as session:
        query = select(func.count()).where(
            OutboxRow.status == OutboxStatus.QUEUED, OutboxRow.send_at <= now
        )
        if not include_bulk:
            query = query.where(OutboxRow.bulk.is_(False))
        return int(session.scalar(query) or 0)


def next_due(store: Store, *, include_bulk: bool) -> dt.datetime | None:
    """When a claim may next find a row: the earliest retry of a row not held, or when a held
    tenant with a row to claim may give one (its hold's or its probe's end, or its row's
    retry, whichever is later)."""
    now = utcnow()
    with store.transaction(read_only=True) as session:
        query = select(func.min(OutboxRow.next_attempt_at)).where(
            OutboxRow.status == OutboxStatus.QUEUED, ~_HELD
        )
        if not include_bulk:
            query = query.where(OutboxRow.bulk.is_(False))
        found = [aware(t) for t in [session.scalar(query)] if t is not None]
        return min([*found, *_hold_ends(session, now, include_bulk)], default=None)


def _hold_ends(session: Session, now: dt.datetime, include_bulk: bool) -> list[dt.datetime]:
    """The future times at which held tenants may give a claim a row. A time already past
    is left out: a claim would have taken that row, and a runner told to look again at
    once would spin on a hold whose tenant has nothing to claim."""
    query = (
        select(
            TenantHoldRow.held_until,
            TenantHoldRow.probe_until,
            func.min(OutboxRow.next_attempt_at),
        )
        .join(OutboxRow, OutboxRow.tenant == TenantHoldRow.tenant)
        .where(OutboxRow.status == OutboxStatus.QUEUED)
        .group_by(TenantHoldRow.tenant, TenantHoldRow.held_until, TenantHoldRow.probe_until)
    )
    if not include_bulk:
        query = query.where(OutboxRow.bulk.is_(False))
    ends = []
    for until, probe_until, first in session.execute(query):
        times = [aware(until), aware(first)] + ([aware(probe_until)] if probe_until else [])
        if max(times) > now:
            ends.append(max(times))
    return ends


def counts(store: Store) -> dict[str, int]:
    """Rows per status, every status named (0 when none)."""
    with store.transaction(read_only=True) as session:
        found = dict(
            session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
    return {status.value: int(found.get(status.value, 0)) for status in OutboxStatus}


def entries(store: Store, *, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
    with store.transaction(read_only=True) as session:
        query = select(OutboxRow).order_by(OutboxRow.id).limit(limit)
        if status:
            query = query.where(OutboxRow.status == status)
        return [_entry(row) for row in session.scalars(query)]


def entry(store: Store, entry_id: int) -> OutboxEntry | None:
    with store.transaction(read_only=True) as session:
        row = session.get(OutboxRow, entry_id)
        return _entry(row) if row else None


def set_status(
    store: Store,
    entry_id: int,
    *,
    allowed: Sequence[str],
    status: OutboxStatus,
    note: str | None = None,
) -> OutboxEntry | None:
    """A person's decision: move a row from one of ``allowed`` to ``status``; the row as it
    is now, or None when it does not exist. A row in another status is left as it is."""
    with store.transaction() as session:
        row = _locked(session, entry_id)
        if row is None:
            return None
        if row.status in allowed:
            now = utcnow()
            row.status = status
            row.updated_at = now
            row.error = note
            if status == OutboxStatus.QUEUED:
                row.next_attempt_at = now
                row.claimed_by = None
                row.claimed_at = None
                row.started_at = None
        session.flush()
        return _entry(row)


def _locked(session: Session, entry_id: int) -> OutboxRow | None:
    return session.scalar(select(OutboxRow).where(OutboxRow.id == entry_id).with_for_update())
