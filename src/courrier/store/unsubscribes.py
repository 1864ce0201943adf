"""Unsubscribes: who asked for no more bulk mail, from which list, when and how.

An unsubscribe from a list (``list_name``) stops the bulk mail of that list; one without a
list ('' in the table) stops every bulk send. One from a tenant's link (``tenant``) stops that
SES tenant's bulk mail only; one without ('' in the table: the account's) stops every
sender's, the tenants' included. Transactional mail is never checked here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courrier.errors import InvalidRecord
from courrier.store.engine import aware
from courrier.store.store import Store
from courrier.store.tables import UnsubscribeRow, utcnow

__all__ = [
    "ACCOUNT",
    "ANY_LIST",
    "PreferenceChange",
    "Unsubscribed",
    "apply_preference_changes",
    "count_unsubscribes",
    "fits_list_name",
    "list_unsubscribes",
    "record_unsubscribe",
    "remove_unsubscribe",
    "unsubscribed_in",
]

#: The list name stored for "every list".
ANY_LIST = ""
#: The tenant stored for the account's own unsubscribes (every tenant honours them).
ACCOUNT = ""
#: What a list name can be (as :func:`courrier.message.check_list_name` checks it).
_LIST_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def fits_list_name(name: str) -> bool:
    """Whether ``name`` (an SES topic) can be stored as a list name."""
    return bool(_LIST_NAME.match(name))


@dataclass(frozen=True)
class Unsubscribed:
    """One stored unsubscribe; ``list_name`` None means every list, ``tenant`` None the
    account's (every sender's mail)."""

    address: str
    list_name: str | None
    source: str
    created_at: dt.datetime
    tenant: str | None = None


def _entry(row: UnsubscribeRow) -> Unsubscribed:
    return Unsubscribed(
        row.address,
        row.list_name or None,
        row.source,
        aware(row.created_at),
        row.tenant or None,
    )


def record_unsubscribe(
    store: Store, address: str, list_name: str | None, source: str, *, tenant: str | None = None
) -> Unsubscribed | None:
    """Record that ``address`` left ``list_name`` (None: every list) of ``tenant``'s mail
    (None: the account's); the new entry, or None when it was already recorded (a second
    click changes nothing, the first time stays)."""
    wanted = (address.strip().lower(), list_name or ANY_LIST, tenant or ACCOUNT)
    try:
        with store.transaction() as session:
            if _find(session, *wanted) is not None:
                return None
            row = UnsubscribeRow(
                address=wanted[0],
                list_name=wanted[1],
                tenant=wanted[2],
                source=source,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return _entry(row)
    except InvalidRecord:
        # The unique index: another request recorded the same unsubscribe in between.
        with store.transaction(read_only=True) as session:
            if _find(session, *wanted) is not None:
                return None
        raise


def _find(session: Session, address: str, list_name: str, tenant: str) -> UnsubscribeRow | None:
    return session.execute(
        select(UnsubscribeRow).where(
            UnsubscribeRow.address == address,
            UnsubscribeRow.list_name == list_name,
            UnsubscribeRow.tenant == tenant,
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class PreferenceChange:
    """One change a subscription event asks: ``address`` left (``unsubscribed``) or came
    back to ``list_name`` (None: every list), at ``at``."""

    address: str
    list_name: str | None
    unsubscribed: bool
    at: dt.datetime
    source: str


def apply_preference_changes(
    session: Session, changes: Sequence[PreferenceChange]
) -> list[Unsubscribed]:
    """Apply ``changes`` in ``session`` (the feedback batch's transaction), each address and
    list ending as its latest change says; the unsubscribes newly stored.

    An unsubscribe already stored keeps its first time and source; a return removes the
    unsubscribe only when it is not newer than the return (feedback arrives in no set
    order: an older "opt in" must not undo a newer "opt out")."""
    latest: dict[tuple[str, str], PreferenceChange] = {}
    for change in sorted(changes, key=lambda c: c.at):
        latest[(change.address.strip().lower(), change.list_name or ANY_LIST)] = change
    leaving = {key: c for key, c in latest.items() if c.unsubscribed}
    fresh = sorted(set(leaving) - _existing(session, set(leaving)))
    if fresh:
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        # Nothing to update on a conflict: a second unsubscribe changes nothing, and one the
        # endpoint records at the same moment must not fail the batch.
        statement = module.insert(UnsubscribeRow.__table__).on_conflict_do_nothing(
            index_elements=["address", "list_name", "tenant"]
        )
        session.connection().execute(
            statement,
            [
                {
                    "address": address,
                    "list_name": name,
                    "tenant": ACCOUNT,
                    "source": leaving[(address, name)].source,
                    "created_at": leaving[(address, name)].at,
                }
                for address, name in fresh
            ],
        )
    added = [
        Unsubscribed(
            address, name or None, leaving[(address, name)].source, leaving[(address, name)].at
        )
        for address, name in fresh
    ]
    for (address, name), change in latest.items():
        if not change.unsubscribed:
            session.execute(
                delete(UnsubscribeRow).where(
                    and_(
                        UnsubscribeRow.address == address,
                        UnsubscribeRow.list_name == name,
                        UnsubscribeRow.tenant == ACCOUNT,
                        UnsubscribeRow.created_at <= change.at,
                    )
                )
            )
    return added


def _existing(session: Session, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    addresses = sorted({a for a, _ in wanted})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(addresses), 500):
        found.update(
            (str(a), str(n))
            for a, n in session.execute(
                select(UnsubscribeRow.address, UnsubscribeRow.list_name).where(
                    UnsubscribeRow.address.in_(addresses[start : start + 500]),
                    UnsubscribeRow.tenant == ACCOUNT,
                )
            )
        )
    return found & wanted


def remove_unsubscribe(
    store: Store, address: str, list_name: str | None, *, tenant: str | None = None
) -> bool:
    """Forget one unsubscribe (the person subscribed again) of ``tenant``'s mail (None: the
    account's); whether there was one."""
    with store.transaction() as session:
        row = _find(session, address.strip().lower(), list_name or ANY_LIST, tenant or ACCOUNT)
        if row is None:
            return False
        session.delete(row)
        return True


def unsubscribed_in(
    session: Session,
    addresses: Iterable[str],
    list_name: str | None,
    *,
    tenant: str | None = None,
) -> set[str]:
    """The lower-cased ``addresses`` that left ``list_name`` or every list, of the account
    or (when given) of ``tenant``."""
    wanted = sorted({a.lower() for a in addresses})
    lists = {ANY_LIST, list_name or ANY_LIST}
    tenants = {ACCOUNT, tenant or ACCOUNT}
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.execute(
                select(UnsubscribeRow.address).where(
                    UnsubscribeRow.address.in_(wanted[start : start + 500]),
                    UnsubscribeRow.list_name.in_(sorted(lists)),
                    UnsubscribeRow.tenant.in_(sorted(tenants)),
                )
            ).scalars()
        )
    return found


def list_unsubscribes(
    store: Store, *, address: str | None = None, limit: int = 100, tenant: str | None = None
) -> list[Unsubscribed]:
    """The latest unsubscribes first (of ``address`` only, and ``tenant``'s own only, when
    given)."""
    query = select(UnsubscribeRow).order_by(UnsubscribeRow.created_at.desc(), UnsubscribeRow.id)
    if address:
        query = query.where(UnsubscribeRow.address == address.strip().lower())
    if tenant:
        query = query.where(UnsubscribeRow.tenant == tenant)
    with store.transaction(read_only=True) as session:
        return [_entry(row) for row in session.execute(query.limit(limit)).scalars()]


def count_unsubscribes(
    store: Store, *, since: dt.datetime | None = None, tenant: str | None = None
) -> int:
    """How many unsubscribes are stored (recorded at or after ``since``, and ``tenant``'s own
    only, when given)."""
    query = select(func.count()).select_from(UnsubscribeRow)
    if tenant:
        query = query.where(UnsubscribeRow.tenant == tenant)
    if since is not None:
        query = query.where(UnsubscribeRow.created_at >= since)
    with store.transaction(read_only=True) as session:
        return int(session.execute(query).scalar_one())
