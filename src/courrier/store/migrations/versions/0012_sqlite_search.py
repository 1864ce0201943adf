"""Search indexes on SQLite: FTS5 trigram indexes for the dashboard's "contains" searches.

What migration 0009's pg_trgm indexes are to PostgreSQL: ``/messages?q=`` looks for text
inside subjects and ``/suppressions?q=`` inside addresses, which no B-tree serves. FTS5's
trigram tokenizer (SQLite 3.34 and later: https://sqlite.org/fts5.html#the_trigram_tokenizer)
indexes every three characters of both, and :mod:`courrier.store.fulltext` looks text up
there, then asks the same LIKE of the rows found.

``messages_search`` is an external-content table over ``messages`` keyed by its integer
primary key (https://sqlite.org/fts5.html#external_content_tables): the subjects are
stored once. ``suppressions_search`` holds its own copy of each address: the suppressions'
key is the address and their rowid is implicit, which VACUUM may renumber
(https://sqlite.org/lang_vacuum.html), so nothing may point at it. Triggers keep both in
step with every write, the store's or anyone's, in the writing transaction; the upgrade
fills them from the rows already stored.

A SQLite built without FTS5 or its trigram tokenizer keeps working: the migration logs why
and creates nothing, and the searches return the same rows, scanning. PostgreSQL gets
nothing here (migration 0009).

Revision ID: 0012
Revises: 0011
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

log = logging.getLogger("courrier.store.migrations")

#: The trigram tables; courrier.store.tables.SEARCH_TABLES too (with FTS5's own tables).
TABLES = ("messages_search", "suppressions_search")

CREATE = (
    "CREATE VIRTUAL TABLE messages_search USING fts5("
    "subject, content='messages', content_rowid='id', tokenize='trigram')",
    "CREATE VIRTUAL TABLE suppressions_search USING fts5(address, tokenize='trigram')",
)

# An external-content table is told what it indexed, old values included, to forget a row.
# An address is found again through its own trigrams, unless it is too short to have one.
TRIGGERS = {
    "messages_search_insert": """
        AFTER INSERT ON messages BEGIN
            INSERT INTO messages_search (rowid, subject) VALUES (new.id, new.subject);
        END""",
    "messages_search_delete": """
        AFTER DELETE ON messages BEGIN
            INSERT INTO messages_search (messages_search, rowid, subject)
            VALUES ('delete', old.id, old.subject);
        END""",
    "messages_search_update": """
        AFTER UPDATE OF id, subject ON messages BEGIN
            INSERT INTO messages_search (messages_search, rowid, subject)
            VALUES ('delete', old.id, old.subject);
            INSERT INTO messages_search (rowid, subject) VALUES (new.id, new.subject);
        END""",
    "suppressions_search_insert": """
        AFTER INSERT ON suppressions BEGIN
            INSERT INTO suppressions_search (address) VALUES (new.address);
        END""",
    "suppressions_search_delete": """
        AFTER DELETE ON suppressions BEGIN
            DELETE FROM suppressions_search WHERE rowid IN (
                SELECT rowid FROM suppressions_search
                WHERE length(old.address) >= 3
                  AND suppressions_search MATCH '"' || replace(old.address, '"', '""') || '"'
                  AND address = old.address
                UNION ALL
                SELECT rowid FROM suppressions_search
                WHERE length(old.address) < 3 AND address = old.address
            );
        END""",
    "suppressions_search_update": """
        AFTER UPDATE OF address ON suppressions BEGIN
            DELETE FROM suppressions_search WHERE rowid IN (
                SELECT rowid FROM suppressions_search
                WHERE length(old.address) >= 3
                  AND suppressions_search MATCH '"' || replace(old.address, '"', '""') || '"'
                  AND address = old.address
                UNION ALL
                SELECT rowid FROM suppressions_search
                WHERE length(old.address) < 3 AND address = old.address
            );
            INSERT INTO suppressions_search (address) VALUES (new.address);
        END""",
}


def _created(connection: sa.Connection) -> bool:
    """Create the trigram tables; False (and nothing created) when this SQLite cannot."""
    savepoint = connection.begin_nested()
    try:
        for statement in CREATE:
            connection.execute(sa.text(statement))
    except sa.exc.DBAPIError as err:
        savepoint.rollback()
        log.warning(
            "search indexes not created: this SQLite (%s) has no FTS5 trigram tokenizer "
            "(%s); searches still work, reading whole tables",
            connection.exec_driver_sql("SELECT sqlite_version()").scalar(),
            str(err.orig).strip().splitlines()[0],
        )
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite" or not _created(connection):
        return
    op.execute("INSERT INTO messages_search (messages_search) VALUES ('rebuild')")
    op.execute("INSERT INTO suppressions_search (address) SELECT address FROM suppressions")
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {name}")
