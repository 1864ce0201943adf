"""The suppression list a page at a time, in the database (the dashboard's queries).

Pages are keyset pages by address, the primary key: a page is found through the index
whatever its depth, and a row inserted or removed between two pages neither repeats nor
hides another. An export walks the same keys in bounded batches, each its own short read
transaction, so memory stays flat in the list's size and no lock is held between batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from courrier.store.engine import aware
from courrier.store.fulltext import ADDRESSES, found_fewer, indexed, matching
from courrier.store.store import Store, Suppression
from courrier.store.tables import SuppressionRow

__all__ = [
    "SuppressionPage",
    "count_suppressions",
    "get_suppression",
    "iter_suppressions",
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


def _entry(row: SuppressionRow) -> Suppression:
    return Suppression(
        row.address,
        row.reason,
        row.source,
        row.detail,
        aware(row.first_seen),
        aware(row.last_seen),
        aware(row.expires_at) if row.expires_at else None,
    )


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL, so no stored value contains one.
    return text.replace("\x00", "")


def _matching(
    session: Session, query: Select[SuppressionRow], text: str, reason: str
) -> Select[SuppressionRow]:
    wanted = _clean(text).strip().lower()
    if wanted:
        # Addresses are stored lower-cased (Store.suppress), so a case-blind "contains".
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(SuppressionRow.address.like(f"%{escaped}%", escape="\\"))
        # The pages are in address order: text in many addresses fills one at once by
        # reading them in that order, and only rarer text is worth the index's detour.
        if indexed(session, ADDRESSES, wanted) and found_fewer(session, ADDRESSES, wanted, FEW):
            found = select(ADDRESSES.c.address).where(matching(ADDRESSES, wanted))
            query = query.where(SuppressionRow.address.in_(found))
    if _clean(reason):
        query = query.where(SuppressionRow.reason == _clean(reason))
    return query


def suppression_page(
    store: Store,
    *,
    text: str = "",
    reason: str = "",
    after: str | None = None,
    before: str | None = None,
    size: int = 50,
) -> SuppressionPage:
    """Up to ``size`` entries whose address contains ``text`` (and with ``reason``): the
    first ones, those right after the address ``after``, or those right before ``before``."""
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
    extra = len(rows) > size
    rows = rows[:size]
    if before is not None:
        return SuppressionPage(rows[::-1], more_before=extra, more_after=True)
    return SuppressionPage(rows, more_before=after is not None, more_after=extra)


def count_suppressions(
    store: Store, *, text: str = "", reason: str = "", up_to: int | None = None
) -> int:
    """How many entries match, counted by the database; with ``up_to``, the count stops
    past it (the answer is then ``up_to + 1``), so that it costs the same on any list."""
    with store.transaction(read_only=True) as session:
        query = _matching(session, select(SuppressionRow), text, reason)
        if up_to is not None:
            query = query.limit(up_to + 1)
        return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def iter_suppressions(
    store: Store, *, text: str = "", reason: str = "", batch: int = 1000
) -> Iterator[Suppression]:
    """Every matching entry in address order, read ``batch`` at a time."""
    after: str | None = None
    while True:
        page = suppression_page(store, text=text, reason=reason, after=after, size=batch)
        yield from page.entries
        if not page.more_after:
            return
        after = page.entries[-1].address


def get_suppression(store: Store, address: str) -> Suppression | None:
    """The entry for ``address`` (any case), or None."""
    with store.transaction(read_only=True) as session:
        row = session.get(SuppressionRow, _clean(address).lower())
        return _entry(row) if row is not None else None
