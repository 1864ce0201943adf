"""The suppression list a page at a time, in the database (the dashboard's queries).

Pages are keyset pages by address, the primary key: a page is found through the index
whatever its depth, and a row inserted or removed between two pages neither repeats nor
hides another. An export walks the same keys in bounded batches, each its own short read
transaction, so memory stays flat in the list's size and no lock is held between batches.

With a tenant, the list is what stops that SES tenant's mail: its own entries
(``tenant_suppressions``) and the account-wide ones, in one ``UNION ALL`` ordered by address
and then scope (``account`` before ``tenant``: an address may be in both), and the page keys
name both (``scope:address``, see :func:`page_key`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select, tuple_, union_all
from sqlalchemy.orm import Session

from courrier.store.engine import aware
from courrier.store.fulltext import ADDRESSES, found_fewer, indexed, matching
from courrier.store.store import Store, Suppression
from courrier.store.tables import SuppressionRow, TenantSuppressionRow

__all__ = [
    "SuppressionPage",
    "count_suppressions",
    "get_suppression",
    "iter_suppressions",
    "page_key",
    "suppression_page",
]


@dataclass(frozen=True)
class SuppressionPage:
    """Entries in address order; whether entries exist before the first and after the last."""

    entries: list[Suppression]
    more_before: bool
    more_after: bool


#: On SQLite, text in fewer entries than this is looked up in the trigram index.
FEW = 1000


def _entry(row: Any, tenant: str | None = None) -> Suppression:
    """An entry of either list (or of both, read together), as :class:`Suppression`;
    ``tenant`` for an entry of that tenant's own list."""
    return Suppression(
        row.address,
        row.reason,
        row.source,
        row.detail,
        aware(row.first_seen),
        aware(row.last_seen),
        aware(row.expires_at) if row.expires_at else None,
        tenant,
    )


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL, so no stored value contains one.
    return text.replace("\x00", "")


def _filters(address: Any, reason_column: Any, text: str, reason: str) -> list[Any]:
    found = []
    wanted = _clean(text).strip().lower()
    if wanted:
        # Addresses are stored lower-cased (Store.suppress), so a case-blind "contains".
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found.append(address.like(f"%{escaped}%", escape="\\"))
    if _clean(reason):
        found.append(reason_column == _clean(reason))
    return found


def _matching(
    session: Session, query: Select[SuppressionRow], text: str, reason: str
) -> Select[SuppressionRow]:
    query = query.where(*_filters(SuppressionRow.address, SuppressionRow.reason, text, reason))
    wanted = _clean(text).strip().lower()
    # The pages are in address order: text in many addresses fills one at once by reading
    # them in that order, and only rarer text is worth the index's detour.
    if (
        wanted
        and indexed(session, ADDRESSES, wanted)
        and found_fewer(session, ADDRESSES, wanted, FEW)
    ):
        found = select(ADDRESSES.c.address).where(matching(ADDRESSES, wanted))
        query = query.where(SuppressionRow.address.in_(found))
    return query


#: The scopes of a tenant's list, in their order under one address.
ACCOUNT_WIDE, OWN = "account", "tenant"


def page_key(entry: Suppression, *, tenant: str | None = None) -> str:
    """The key of ``entry`` for ``after`` and ``before``: its address, or with ``tenant``
    its scope too (``account:`` or ``tenant:`` and the address)."""
    if tenant is None:
        return entry.address
    return f"{OWN if entry.tenant else ACCOUNT_WIDE}:{entry.address}"


def _applying(tenant: str) -> Any:
    """The entries that stop ``tenant``'s mail, each with its scope."""
    columns = ("address", "reason", "source", "detail", "first_seen", "last_seen", "expires_at")
    own = select(
        *(getattr(TenantSuppressionRow, c) for c in columns),
        literal_column(f"'{OWN}'").label("scope"),
    ).where(TenantSuppressionRow.tenant == tenant)
    wide = select(
        *(getattr(SuppressionRow, c) for c in columns),
        literal_column(f"'{ACCOUNT_WIDE}'").label("scope"),
    )
    return union_all(own, wide).subquery("applying")


def _tenant_matching(applying: Any, text: str, reason: str) -> Select[Any]:
    return select(applying).where(*_filters(applying.c.address, applying.c.reason, text, reason))


def _tenant_page(
    store: Store,
    tenant: str,
    query: Select[Any],
    applying: Any,
    after: str | None,
    before: str | None,
    size: int,
) -> SuppressionPage:
    key = tuple_(applying.c.address, applying.c.scope)
    if before is not None:
        query = query.where(key < tuple_(*_split(before))).order_by(
            applying.c.address.desc(), applying.c.scope.desc()
        )
    else:
        if after is not None:
            query = query.where(key > tuple_(*_split(after)))
        query = query.order_by(applying.c.address, applying.c.scope)
    with store.transaction(read_only=True) as session:
        rows = [_scoped(r, tenant) for r in session.execute(query.limit(size + 1))]
    return _paged(rows, after, before, size)


def _split(key: str) -> tuple[str, str]:
    scope, _, address = _clean(key).partition(":")
    return address, scope


def _scoped(row: Any, tenant: str) -> Suppression:
    return _entry(row, tenant if row.scope == OWN else None)


def _paged(
    rows: list[Suppression], after: str | None, before: str | None, size: int
) -> SuppressionPage:
    extra = len(rows) > size
    rows = rows[:size]
    if before is not None:
        return SuppressionPage(rows[::-1], more_before=extra, more_after=True)
    return SuppressionPage(rows, more_before=after is not None, more_after=extra)


def suppression_page(
    store: Store,
    *,
    text: str = "",
    reason: str = "",
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
    tenant: str | None = None,
) -> SuppressionPage:
    """Up to ``size`` entries whose address contains ``text`` (and with ``reason``): the
    first ones, those right after the key ``after``, or those right before ``before``
    (see :func:`page_key`). With ``tenant``: the entries that stop that tenant's mail."""
    if tenant is not None:
        applying = _applying(tenant)
        query = _tenant_matching(applying, text, reason)
        return _tenant_page(store, tenant, query, applying, after, before, size)
    with store.transaction(read_only=True) as session:
        query = _matching(session, select(SuppressionRow), text, reason)
        if before is not None:
            query = query.where(SuppressionRow.address < _clean(before))
            query = query.order_by(SuppressionRow.address.desc())
        else:
            if after is not None:
                query = query.where(SuppressionRow.address > _clean(after))
            query = query.order_by(SuppressionRow.address)
        rows = [_entry(r) for r in session.scalars(query.limit(size + 1))]
    return _paged(rows, after, before, size)


def count_suppressions(
    store: Store,
    *,
    text: str = "",
    reason: str = "",
    tenant: str | None = None,
    up_to: int | None = None,
) -> int:
    """How many entries match (with ``tenant``: of those that stop its mail), counted by
    the database; with ``up_to``, the count stops past it (the answer is then ``up_to + 1``),
    so that it costs the same on any list."""
    with store.transaction(read_only=True) as session:
        query: Select[Any]
        if tenant is not None:
            query = _tenant_matching(_applying(tenant), text, reason)
        else:
            query = _matching(session, select(SuppressionRow), text, reason)
        if up_to is not None:
            query = query.limit(up_to + 1)
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def iter_suppressions(
    store: Store,
    *,
    text: str = "",
    reason: str = "",
    batch: int = 1000,
    tenant: str | None = None,
) -> Iterator[Suppression]:
    """Every matching entry in address order (with ``tenant``: of those that stop its mail),
    read ``batch`` at a time."""
    after: str | None = None
    while True:
        page = suppression_page(
            store, text=text, reason=reason, after=after, size=batch, tenant=tenant
        )
        yield from page.entries
        if not page.more_after:
            return
        after = page_key(page.entries[-1], tenant=tenant)


def get_suppression(store: Store, address: str, *, tenant: str | None = None) -> Suppression | None:
    """The entry for ``address`` (any case), or None; with ``tenant``, that tenant's own."""
    wanted = _clean(address).lower()
    with store.transaction(read_only=True) as session:
        if tenant is None:
            row = session.get(SuppressionRow, wanted)
            return _entry(row) if row is not None else None
        own = session.get(TenantSuppressionRow, (tenant, wanted))
        return _entry(own, tenant) if own is not None else None
