"""The dashboard's searches on both stores: the rows the documented rules give, whatever
the text holds (LIKE's own characters, quotes, case, unicode), on their indexes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from courrier.store import Store
from courrier.store.search import find_messages
from courrier.store.suppression_list import count_suppressions, suppression_page
from courrier.store.tables import MessageRow, RecipientRow

SUBJECTS = [
    "100% off_today",
    "100 percent off",
    'It\'s "quoted"',
    "back\\slash and under_score",
    "Crème brûlée ÉTÉ",
    "日本語のお知らせ",
    "Newsletter 12345",
    "Newsletter 123",
    "plain",
    "",
]
ADDRESSES = [
    "a%b@example.com",
    "a_b@example.com",
    "axb@example.com",
    "o'brien@example.com",
    "back\\slash@example.com",
    "élise@exemple.fr",
    "r12345@example.com",
    "r123@example.com",
    "news@example.com",
    "zoë@example.net",
]
QUERIES = [
    "%",
    "_",
    "a%",
    "a_",
    "a%b",
    "100%",
    "off_",
    "'",
    '"quoted"',
    "\\",
    "back\\s",
    "crème",
    "CRÈME",
    "été",
    "日本",
    "newsletter 123",
    "r123",
    "R12345@",
    "o'b",
    "élise",
    "zoë@example.net",
    "ses-7",
    "  plain  ",
    "nothing matches this",
    "a\x00b",
]


def fill(store: Store) -> None:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with store.transaction() as session:
        for n, (subject, address) in enumerate(zip(SUBJECTS, ADDRESSES, strict=True)):
            message = MessageRow(
                ses_message_id=f"ses-{n}",
                sender="news@example.com",
                subject=subject,
                status="sent",
                created_at=created + dt.timedelta(minutes=n),
            )
            session.add(message)
            session.flush()
            second = f"second{n}@example.org"
            for kind, to in (("to", address), ("cc", second)):
                session.add(
                    RecipientRow(message_id=message.id, address=to, kind=kind, status="delivered")
                )
    for address in ADDRESSES:
        store.suppress(address, reason="manual", source="manual")


#: SQLite's lower() and LIKE fold ASCII letters only (https://sqlite.org/lang_corefunc.html#lower).
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def expected_messages(query: str, dialect: str) -> list[str]:
    """The rule in find_messages' docstring, applied in Python, newest first."""
    wanted = query.replace("\x00", "").strip().lower()

    def folded(subject: str) -> str:
        return subject.translate(ASCII_LOWER) if dialect == "sqlite" else subject.lower()

    found = []
    for n, (subject, address) in reversed(list(enumerate(zip(SUBJECTS, ADDRESSES, strict=True)))):
        addresses = (address, f"second{n}@example.org")
        if any(a.startswith(wanted) for a in addresses) or (
            "@" not in wanted and (f"ses-{n}" == query.strip() or wanted in folded(subject))
        ):
            found.append(f"ses-{n}")
    return found


@pytest.mark.parametrize("query", QUERIES)
def test_message_search_finds_what_the_rule_says(store: Store, query: str) -> None:
    fill(store)
    expected = expected_messages(query, store.dialect)
    assert [m.ses_message_id for m in find_messages(store, text=query)] == expected
    # Page by page, the same rows: each page is among the newest matches of each kind.
    pages = [find_messages(store, text=query, limit=2, offset=o) for o in range(0, 12, 2)]
    assert [m.ses_message_id for page in pages for m in page] == expected
    with_status = find_messages(store, text=query, status="delivered", limit=3, offset=1)
    assert [m.ses_message_id for m in with_status] == expected[1:4]


@pytest.mark.parametrize("query", QUERIES)
def test_suppression_search_finds_what_the_rule_says(store: Store, query: str) -> None:
    fill(store)
    wanted = query.replace("\x00", "").strip().lower()
    expected = sorted(a for a in ADDRESSES if wanted in a)
    page = suppression_page(store, text=query, size=100)
    assert [e.address for e in page.entries] == expected
    assert count_suppressions(store, text=query) == len(expected)


def test_searches_can_use_their_trigram_indexes_on_postgresql(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's (migration 0009)")
    fill(store)
    statements = {
        "ix_messages_subject_trgm": "SELECT id FROM messages WHERE subject ILIKE"
        " '%brûlée%' ESCAPE '\\' ORDER BY id DESC LIMIT 51",
        "ix_suppressions_address_trgm": "SELECT address FROM suppressions WHERE address"
        " LIKE '%xample.f%' ESCAPE '\\' ORDER BY address LIMIT 51",
    }
    with store.engine.connect() as connection:
        # Ten rows are read faster without an index: forbid the alternatives to see that
        # the index can serve the query as the store writes it.
        connection.execute(text("SET enable_seqscan = off"))
        connection.execute(text("SET enable_indexscan = off"))
        for index, statement in statements.items():
            plan = "\n".join(connection.scalars(text(f"EXPLAIN {statement}")))
            assert index in plan, plan
        connection.rollback()
