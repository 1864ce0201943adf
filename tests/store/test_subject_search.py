"""Subject searches among many subjects sharing words: the rows the rule gives, whichever
words the index is asked for (courrier.store.subjects)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, insert, text

from courrier.store import Store
from courrier.store.search import find_messages
from courrier.store.subjects import Sample, rare_words
from courrier.store.tables import MessageRow, RecipientRow, table_of

NEWSLETTERS = 300
OTHERS = ["Crème brûlée 123", "Invoice 1234 ready", "Newsletter_12 % off", "newsletter"]
SUBJECTS = [f"Newsletter {n}" for n in range(NEWSLETTERS)] + OTHERS
QUERIES = [
    "Newsletter 123",
    "newsletter 12",
    "NEWSLETTER 299",
    "letter 2",
    "newsletter 1234",
    "newsletter_12",
    "Newsletter_12 %",
    "news 1",
    "invoice 1234",
    "brûlée 123",
    "newsletter",
    "1234",
]


def fill(store: Store) -> None:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    messages = [
        {
            "id": n + 1,
            "ses_message_id": f"ses-{n}",
            "sender": "news@example.com",
            "subject": subject,
            "status": "sent",
            "created_at": created + dt.timedelta(minutes=n),
        }
        for n, subject in enumerate(SUBJECTS)
    ]
    recipients = [
        {"message_id": n + 1, "address": f"r{n}@example.com", "kind": "to", "status": "sent"}
        for n in range(len(SUBJECTS))
    ]
    with store.transaction() as session:
        session.execute(insert(table_of(MessageRow)), messages)
        session.execute(insert(table_of(RecipientRow)), recipients)
    with store.engine.begin() as connection:
        connection.execute(text("ANALYZE messages"))


def expected(query: str) -> list[str]:
    wanted = query.strip().lower()
    return [
        f"ses-{n}"
        for n in reversed(range(len(SUBJECTS)))
        if wanted in SUBJECTS[n].lower() or f"r{n}@example.com".startswith(wanted)
    ]


def _statements(store: Store) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("query", QUERIES)
def test_subject_search_among_shared_words(store: Store, query: str) -> None:
    fill(store)
    seen = _statements(store)
    found = [m.ses_message_id for m in find_messages(store, text=query, limit=400)]
    assert found == expected(query)
    pages = [find_messages(store, text=query, limit=7, offset=o) for o in range(0, 21, 7)]
    assert [m.ses_message_id for page in pages for m in page] == expected(query)[:21]
    if store.dialect == "postgresql":
        by_words = any("rare_words" in s for s in seen)
        assert by_words is (query in ("Newsletter 123", "NEWSLETTER 299", "newsletter 1234")), seen


def test_rare_words_are_the_uncommon_ones() -> None:
    sample = Sample(
        common=[("Newsletter", 0.2)], bounds=[f"Newsletter {n}" for n in range(100, 200)]
    )
    assert rare_words("newsletter 12345", sample) == ["12345"]
    assert rare_words("newsletter 150", sample) == ["150"]
    assert rare_words("newsletter 1", sample) == []  # too short to have a trigram
    assert rare_words("newsletter 19", sample) == []  # in more than one subject in twenty
    assert rare_words("invoice 12345", sample) == []  # nothing common: the whole text
    assert rare_words("newsletter", sample) == []
    assert Sample(common=[], bounds=[]).share("x") == 0


@given(st.text(max_size=30), st.lists(st.text(max_size=20), max_size=10))
def test_rare_words_are_pieces_of_the_text(wanted: str, bounds: list[str]) -> None:
    sample = Sample(common=[(b, 0.01) for b in bounds[:3]], bounds=bounds[3:])
    assert all(word in wanted for word in rare_words(wanted, sample))
