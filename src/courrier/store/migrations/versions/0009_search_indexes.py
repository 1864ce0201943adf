"""Search indexes: trigram indexes for the dashboard's "contains" searches on PostgreSQL.

``/messages?q=`` looks for text inside subjects and ``/suppressions?q=`` inside addresses
(``ILIKE '%text%'``, ``LIKE '%text%'``): no B-tree serves that, so at a million messages
they read the whole table. pg_trgm's GIN indexes serve both (LIKE and ILIKE, with any
pattern of three characters or more:
https://www.postgresql.org/docs/current/pgtrgm.html#PGTRGM-INDEX).

The extension is created when missing (pg_trgm is a trusted extension since PostgreSQL 13:
a role with CREATE on the database may create it), in ``public`` so that it outlives any
one schema. A role that cannot create it, or a server without it, keeps working: the
migration logs why and creates no trigram index, and the searches return the same rows,
scanning. SQLite gets none: its "contains" searches scan (see the benchmarks page), and its
address prefix search uses the address index (:mod:`courrier.store.search`).

Revision ID: 0009
Revises: 0007
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("courrier.store.migrations")

#: (index, table, column) of the trigram indexes; courrier.store.tables.SEARCH_INDEXES too.
INDEXES = (
    ("ix_messages_subject_trgm", "messages", "subject"),
    ("ix_suppressions_address_trgm", "suppressions", "address"),
)


def _trigram_schema(connection: sa.Connection) -> str | None:
    """The schema holding pg_trgm, created if needed; None when it cannot be."""
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    )
    schema = connection.scalar(find)
    if schema is not None:
        return str(schema)
    savepoint = connection.begin_nested()
    try:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except sa.exc.DBAPIError as err:
        savepoint.rollback()
        log.warning(
            "search indexes not created: the extension pg_trgm cannot be created (%s); "
            "searches still work, reading whole tables (see Operations, search indexes)",
            str(err.orig).strip().splitlines()[0],
        )
        return None
    savepoint.commit()
    return "public"


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    schema = _trigram_schema(connection)
    if schema is None:
        return
    operators = f'"{schema}".gin_trgm_ops'
    for name, table, column in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} {operators})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
