"""SQLite's trigram indexes for the dashboard's "contains" searches (migration 0012).

FTS5's trigram tokenizer (https://sqlite.org/fts5.html#the_trigram_tokenizer) indexes every
three characters of the messages' subjects and the suppressions' addresses. The wanted
text, asked as one phrase, finds the rows that contain it with case folded further than
LIKE folds it (non-ASCII letters too), so the rows found are asked the store's LIKE again:
the index narrows, LIKE decides, and the answer is the one a scan of the table gives.

Text of fewer than three characters has no trigram and is scanned for, as is any text on
a store whose SQLite had no trigram tokenizer when it was migrated (no index was made).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Text, column, func, literal_column, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

__all__ = ["ADDRESSES", "SUBJECTS", "found_fewer", "indexed", "matching"]

#: The messages' subjects; each row's rowid is its message's id.
SUBJECTS = table("messages_search", column("rowid", Integer), column("subject", Text))
#: The suppressions' addresses, one row per entry.
ADDRESSES = table("suppressions_search", column("rowid", Integer), column("address", Text))

#: A trigram is three characters: shorter text matches nothing in the index.
SHORTEST = 3

#: The index table and the three triggers that keep it in step (``<index>_insert``,
#: ``_delete``, ``_update``). A later migration that rebuilds the indexed table (SQLite's
#: "move and copy" ALTER) drops its triggers: the index would then miss new rows, and
#: since it narrows before LIKE decides, searches would miss them too. Without all
#: four, the search scans.
_COMPLETE = text(
    "SELECT count(*) FROM sqlite_master WHERE (type = 'table' AND name = :name)"
    " OR (type = 'trigger' AND name IN (:name || '_insert', :name || '_delete',"
    " :name || '_update'))"
)


def indexed(session: Session, index: TableClause, wanted: str) -> bool:
    """Whether ``wanted`` can be looked up in ``index``: a SQLite store that has it with
    the triggers that keep it in step, and text long enough to have a trigram."""
    if len(wanted) < SHORTEST or session.get_bind().dialect.name != "sqlite":
        return False
    return bool(session.scalar(_COMPLETE, {"name": index.name}) == 4)


def matching(index: TableClause, wanted: str) -> Any:
    """The condition on ``index``'s rows that contain ``wanted``: one FTS5 phrase, in which
    only the double quote is special (https://sqlite.org/fts5.html#fts5_strings)."""
    phrase = '"' + wanted.replace('"', '""') + '"'
    return literal_column(index.name).op("MATCH")(phrase)


def found_fewer(session: Session, index: TableClause, wanted: str, most: int) -> bool:
    """Whether ``index`` holds fewer than ``most`` rows containing ``wanted``, read from the
    index and stopping at ``most``."""
    found = select(index.c.rowid).where(matching(index, wanted)).limit(most).subquery()
    return int(session.scalar(select(func.count()).select_from(found)) or 0) < most
