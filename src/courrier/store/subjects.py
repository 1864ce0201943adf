"""The messages whose subject contains a text, asked in the form each store's index serves.

SQLite: its trigram index (:mod:`courrier.store.fulltext`) when it has one, read newest
first. PostgreSQL: pg_trgm's GIN index (migration 0009) reads, for every trigram of the
text, the list of the subjects holding it, so a trigram found in most subjects costs a
read of a list as long as the table. A text that mixes words most subjects share with a
rare word ("Newsletter 12345" among a million newsletters) is therefore looked up by its
rare words alone, and the rows found are asked the whole text: the same rows, from short
lists. Which words are common comes from PostgreSQL's own sample of the subjects
(``pg_stats``, kept by ANALYZE and autovacuum:
https://www.postgresql.org/docs/current/view-pg-stats.html); before there is one, and
when no word is common, the whole text goes to the planner, which chooses between the
index and reading the newest messages until a page matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from courrier.store.fulltext import SUBJECTS, indexed, matching
from courrier.store.tables import MessageRow

__all__ = ["Sample", "rare_words", "subject_ids"]

#: A word found in at least this share of the sampled subjects is common.
COMMON = 0.05
#: Shorter pieces have no trigram of their own (pg_trgm pads words to make them).
SHORTEST = 3

_SAMPLE = text(
    "SELECT most_common_vals::text::text[], most_common_freqs, histogram_bounds::text::text[]"
    " FROM pg_stats WHERE tablename = 'messages' AND attname = 'subject'"
    " AND schemaname = (SELECT n.nspname FROM pg_class c JOIN pg_namespace n"
    " ON n.oid = c.relnamespace WHERE c.oid = to_regclass('messages'))"
)


@dataclass(frozen=True)
class Sample:
    """PostgreSQL's sample of the subjects: the most common ones with their shares, and
    the bounds of equal shares of the others."""

    common: list[tuple[str, float]]
    bounds: list[str]

    def share(self, word: str) -> float:
        """The estimated share of the subjects that contain ``word`` (lower-case)."""
        found = sum(freq for value, freq in self.common if word in value.lower())
        rest = 1.0 - sum(freq for _, freq in self.common)
        if self.bounds:
            found += rest * sum(word in value.lower() for value in self.bounds) / len(self.bounds)
        return found


def _sample(session: Session) -> Sample | None:
    row = session.execute(_SAMPLE).first()
    if row is None:
        return None
    values, freqs, bounds = row
    return Sample(list(zip(values or [], freqs or [], strict=True)), list(bounds or []))


def rare_words(wanted: str, sample: Sample) -> list[str]:
    """The words of ``wanted`` to look up instead of the whole of it: its uncommon words
    when it also has a common one; none when the whole text is the better question."""
    words = {w for w in re.split(r"[\W_]+", wanted) if len(w) >= SHORTEST}
    common = {w for w in words if sample.share(w) >= COMMON}
    if not common or common == words:
        return []
    return sorted(words - common)


def _escaped(piece: str) -> str:
    return piece.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, wanted: str) -> Any:
    return column.ilike(f"%{_escaped(wanted)}%", escape="\\")


def subject_ids(session: Session, wanted: str) -> tuple[Any, Any]:
    """The ids of the messages whose subject contains ``wanted`` (lower-case, any case in
    the subject), and the column to read them newest first by."""
    dialect = session.get_bind().dialect.name
    if indexed(session, SUBJECTS, wanted):
        # The index's own rowid order: a common text stops at the page.
        found = SUBJECTS.join(MessageRow, MessageRow.id == SUBJECTS.c.rowid)
        query = select(MessageRow.id.label("id")).select_from(found)
        return query.where(matching(SUBJECTS, wanted), _contains(MessageRow.subject, wanted)), (
            SUBJECTS.c.rowid
        )
    sample = _sample(session) if dialect == "postgresql" else None
    rare = rare_words(wanted, sample) if sample is not None else []
    if not rare:
        return select(MessageRow.id.label("id")).where(
            _contains(MessageRow.subject, wanted)
        ), MessageRow.id
    # Materialised, so that the whole text is asked of the rows found and not of the index.
    probe = (
        select(MessageRow.id, MessageRow.subject)
        .where(*(_contains(MessageRow.subject, w) for w in rare))
        .cte("rare_words")
        .prefix_with("MATERIALIZED")
    )
    return select(probe.c.id.label("id")).where(_contains(probe.c.subject, wanted)), probe.c.id
