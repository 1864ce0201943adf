"""The store's connection to its database: the engine and its per-connection settings,
migrations, and the identity of a SQLite file (:class:`~courrier.store.Store` holds one of
each and adds the queries)."""

from __future__ import annotations

import datetime as dt
import os
import time
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from courrier.errors import StoreError, StoreUnusable
from courrier.store.errors import store_error

__all__ = ["SqliteFile", "aware", "listen", "migrate", "normalise_url", "with_context"]

#: pg_advisory_xact_lock key that serialises migrations ("courrier" in ASCII, as an int).
MIGRATION_LOCK = 0x636F757272696572


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLAlchemy would pick psycopg2."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def in_memory_sqlite(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``,
    a ``file:`` URI with ``mode=memory``); a URL that does not parse is left to the store."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or "mode=memory" in database
        or parsed.query.get("mode") == "memory"
    )


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC: SQLite hands back naive datetimes; everything courrier stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def with_context(error: StoreError, context: str) -> StoreError:
    """The same kind of error, its message prefixed with ``context``."""
    return type(error)(f"{context}: {error}")


def listen(engine: Engine) -> None:
    """Set each new connection up for courrier (see the two functions below)."""
    from sqlalchemy import event

    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_connect)
        event.listen(engine, "checkin", _idle_from_now)
        event.listen(engine, "checkout", _ping_if_idle)


#: Seconds a pooled PostgreSQL connection may sit idle before it is pinged at checkout.
PING_AFTER_IDLE = 5.0


def _idle_from_now(_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(connection: Any, record: Any, _proxy: Any) -> None:
    """A connection back from a long rest may have been closed by the server (a restart, an
    idle timeout, a proxy): it is pinged, and a dead one is replaced before anything runs on
    it. One in steady use is not, so that a busy sender pays no round trip for it; should it
    die all the same, its first statement fails, SQLAlchemy discards the pool's connections,
    and the error is a transient StoreError that the caller retries.
    """
    from sqlalchemy.exc import DisconnectionError

    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE:
        return
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        connection.rollback()
    except Exception as err:  # the driver's own errors: any of them means "not usable"
        # The pool's documented answer: it discards this connection and checks out another
        # (https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic).
        raise DisconnectionError(f"a pooled connection is dead: {err}") from err


def migrate(engine: Engine, immediate: Engine) -> None:
    """Bring the schema to the latest migration (idempotent, safe to run concurrently); see
    :meth:`courrier.store.Store.migrate`. ``immediate`` takes SQLite's write lock on BEGIN."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("courrier.store") / "migrations"))
    try:
        if _at_head(engine, config):
            return
        with immediate.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (SQLAlchemyError, UnicodeError) as err:
        raise with_context(store_error(err), "migrating the store failed") from err


def _at_head(engine: Engine, config: Config) -> bool:
    """Whether the schema is at the latest migration, read without any lock (SQLite's
    deferred BEGIN takes none until a write, and WAL readers never wait for a writer)."""
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
        connection.rollback()
    return current == heads


class SqliteFile:
    """A SQLite file's identity, taken when the store opened it: a file deleted or replaced
    while in use is detected (:class:`~courrier.errors.StoreUnusable`), since whatever is
    committed then goes to a file nobody will read again."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._identity: tuple[int, int] | None = None

    def remember(self) -> None:
        """Take the file's identity now (once it exists)."""
        if os.path.exists(self.path):
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)

    def check(self) -> None:
        """Raise :class:`~courrier.errors.StoreUnusable` if the file is gone or replaced."""
        if self._identity is None:
            return
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise StoreUnusable(
                f"the SQLite file {self.path} was deleted while in use; stop and restore it"
            ) from None
        if (stat.st_dev, stat.st_ino) != self._identity:
            raise StoreUnusable(
                f"the SQLite file {self.path} was replaced while in use; restart to use the "
                "new file"
            )


def _sqlite_connect(connection: Any, _record: Any) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver's own guesswork (the
    # pysqlite recipe in SQLAlchemy's documentation): DDL stays transactional, and a
    # transaction can ask for the write lock up front.
    connection.isolation_level = None
    cursor = connection.cursor()
    # WAL lets a worker write while readers read; busy_timeout waits out short write locks.
    # synchronous=FULL syncs the WAL on every commit: a committed batch (whose messages are
    # then deleted from SQS) survives a power cut. NORMAL, the usual WAL pairing, syncs only
    # at checkpoints, so the last commits could vanish after SQS had forgotten them
    # (https://www.sqlite.org/pragma.html#pragma_synchronous: durable across a process
    # crash either way, not across a power loss or an OS crash). A send is the same: an
    # intent rolled back by a power cut after SES took the message leaves its outbox row
    # never started, so it is sent again; an outcome rolled back loses the record of a
    # send. The sync is most of what a send costs the store, and it is kept.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _postgresql_connect(connection: Any, _record: Any) -> None:
    # No JIT: PostgreSQL compiles a plan whose estimated cost passes jit_above_cost (100,000
    # by default) on every call, and the report queries' estimates passed it on stores of a
    # few thousand messages: seconds of compiling for a query that runs in milliseconds
    # (https://www.postgresql.org/docs/current/jit-decision.html). courrier's queries are
    # short index probes and rollup reads, which JIT never speeds up. A SET on connect, not a
    # startup option, so options already in the database URL are left as they are.
    cursor = connection.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    connection.commit()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("courrier_immediate")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
