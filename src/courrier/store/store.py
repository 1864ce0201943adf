"""Store: engine, migrations, transactions, and the queries the library needs."""

from __future__ import annotations

import datetime as dt
import os
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, delete, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from courrier.errors import (
    ConfigurationError,
    StoreError,
    StoreUnavailable,
    StoreUnusable,
)
from courrier.statuses import MessageStatus
from courrier.store.errors import store_error
from courrier.store.tables import MessageRow, SuppressionRow, TenantSuppressionRow, utcnow

if TYPE_CHECKING:
    from courrier.store.send_rate import TokenRequest
    from courrier.store.sends import Intent, NewMessage, OutboxFinish

#: pg_advisory_xact_lock key that serialises migrations ("courrier" in ASCII, as an int).
_MIGRATION_LOCK = 0x636F757272696572


@dataclass(frozen=True)
class RecipientRecord:
    address: str
    kind: str
    status: str


@dataclass(frozen=True)
class MessageRecord:
    id: int
    ses_message_id: str | None
    sender: str
    subject: str
    status: str
    error: str | None
    recipients: tuple[RecipientRecord, ...]
    #: The SES tenant it was sent for; None: the account's.
    tenant: str | None = None


@dataclass(frozen=True)
class Suppression:
    address: str
    reason: str
    source: str
    detail: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    expires_at: dt.datetime | None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready: datetimes in ISO 8601."""
        return {
            "address": self.address,
            "reason": self.reason,
            "source": self.source,
            "detail": self.detail,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLAlchemy would pick psycopg2."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything courrier stores is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Store:
    """The store at ``url``; its schema is migrated on open unless ``migrate=False``.

    Errors come out as :class:`~courrier.errors.StoreError` subclasses that say what to do:
    :class:`~courrier.errors.StoreUnavailable` (retry later),
    :class:`~courrier.errors.InvalidRecord` (this data can never be stored) and
    :class:`~courrier.errors.StoreUnusable` (stop: read-only, or the SQLite file was deleted
    or replaced while open, so whatever is written now would be lost).
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(normalise_url(url))
            # A server connection may have died in the pool (PostgreSQL restarted): each
            # checkout pings it first. A SQLite file cannot go away that way, and its ping
            # would only cost every transaction a statement.
            self.engine: Engine = create_engine(
                parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite"
            )
        except (ArgumentError, ValueError, ImportError) as err:
            raise ConfigurationError(f"cannot use database URL {url!r}: {err}") from err
        # A store dropped without close() closes its pooled connections when collected,
        # instead of leaving each driver connection to be reclaimed (and warned about) alone.
        weakref.finalize(self, self.engine.dispose)
        self._file: str | None = None
        self._file_identity: tuple[int, int] | None = None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self._file = os.path.abspath(database)
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _postgresql_connect)
        # SQLite: BEGIN IMMEDIATE takes the write lock at once, so two writers queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded.
        self._immediate = self.engine.execution_options(courrier_immediate=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._immediate_sessions = sessionmaker(self._immediate, expire_on_commit=False)
        if migrate:
            try:
                self.migrate()
            except StoreError:
                self.engine.dispose()  # no connection outlives a store that failed to open
                raise
        self._remember_file()

    @property
    def dialect(self) -> str:
        """The database's kind: ``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)

    def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent, safe to run concurrently).

        A store already at the latest migration is only read: the usual case, every command
        opening the store, must not queue behind a long writer (a bulk import) for a lock it
        does not need. Processes that open a store that is behind take turns: PostgreSQL
        through an advisory lock held for the migration's transaction, SQLite through its
        write lock; each checks again once it holds the lock.
        """
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("courrier.store") / "migrations")
        )
        try:
            if self._at_head(config):
                return
            with self._immediate.begin() as connection:
                if self.dialect == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except (SQLAlchemyError, UnicodeError) as err:
            raise _with_context(store_error(err), "migrating the store failed") from err

    def _at_head(self, config: Config) -> bool:
        """Whether the schema is at the latest migration, read without any lock (SQLite's
        deferred BEGIN takes none until a write, and WAL readers never wait for a writer)."""
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with self.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
            connection.rollback()
        return current == heads

    def check_writable(self) -> None:
        """Raise :class:`~courrier.errors.StoreUnusable` unless the store can be written.

        A write that changes nothing, rolled back: a read-only SQLite file or a read-only
        PostgreSQL session fails here, at start-up, instead of on the first real batch.
        """
        self._check_file()
        try:
            with self._immediate.connect() as connection, connection.begin() as outer:
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
                outer.rollback()
        except (SQLAlchemyError, UnicodeError) as err:
            error = store_error(err)
            if isinstance(error, StoreUnavailable):
                raise _with_context(error, "the store cannot be reached") from err
            raise StoreUnusable(f"the store cannot be written: {err}") from err

    def close(self) -> None:
        """Close the store's connections (a new transaction opens them again)."""
        self.engine.dispose()

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        On SQLite a transaction takes the write lock when it begins (``BEGIN IMMEDIATE``)
        unless it is ``read_only``: one that reads and then writes would otherwise fail at
        once with "database is locked" when another process wrote in between, instead of
        waiting its turn. A SQLite file deleted or replaced while open is detected before
        and after the transaction (:class:`~courrier.errors.StoreUnusable`): what was just
        committed went to a file nobody will read again.
        """
        self._check_file()
        session = (self._sessions if read_only else self._immediate_sessions)()
        try:
            with session.begin():
                yield session
        except (SQLAlchemyError, UnicodeError) as err:
            raise store_error(err) from err
        finally:
            session.close()
        self._check_file()

    def _remember_file(self) -> None:
        if self._file is not None and os.path.exists(self._file):
            stat = os.stat(self._file)
            self._file_identity = (stat.st_dev, stat.st_ino)

    def _check_file(self) -> None:
        if self._file is None or self._file_identity is None:
            return
        try:
            stat = os.stat(self._file)
        except FileNotFoundError:
            raise StoreUnusable(
                f"the SQLite file {self._file} was deleted while in use; stop and restore it"
            ) from None
        if (stat.st_dev, stat.st_ino) != self._file_identity:
            raise StoreUnusable(
                f"the SQLite file {self._file} was replaced while in use; restart to use the "
                "new file"
            )

    # ---------------------------------------------------------------- messages

    def record_message(
        self,
        *,
        sender: str,
        subject: str,
        configuration_set: str | None,
        recipients: Iterable[tuple[str, str, str]],
        status: MessageStatus = MessageStatus.PENDING,
        tenant: str | None = None,
    ) -> int:
        """Store a message before it is sent; ``recipients`` are (address, kind, status);
        ``tenant``: the SES tenant it is for."""
        from courrier.store import sends  # sends builds on this module

        [record_id] = sends.record_messages(
            self,
            [
                sends.NewMessage(
                    sender,
                    subject,
                    configuration_set,
                    tuple(recipients),
                    status=status,
                    tenant=tenant,
                )
            ],
        )
        return record_id

    def begin_send(
        self,
        messages: Sequence[NewMessage],
        *,
        tokens: TokenRequest | None = None,
    ) -> Intent:
        """A send's intent, one transaction: see :func:`courrier.store.sends.begin_sends`."""
        from courrier.store import sends

        return sends.begin_sends(self, messages, tokens=tokens)

    def finish_send(
        self,
        message_id: int,
        *,
        status: MessageStatus,
        ses_message_id: str | None = None,
        error: str | None = None,
        outbox: OutboxFinish | None = None,
    ) -> None:
        """Record a send's outcome (and ``outbox``, the row it settles) in one transaction;
        recipients still pending take the message's status."""
        from courrier.store import sends

        sends.finish_sends(self, [sends.Outcome(message_id, status, ses_message_id, error, outbox)])

    def message(self, message_id: int) -> MessageRecord | None:
        """The message recorded under ``message_id``, with its recipients, or None."""
        with self.transaction(read_only=True) as session:
            row = session.get(MessageRow, message_id)
            return _message_record(row) if row else None

    def message_by_ses_id(self, ses_message_id: str) -> MessageRecord | None:
        """The message SES accepted as ``ses_message_id``, with its recipients, or None."""
        with self.transaction(read_only=True) as session:
            row = session.scalar(
                select(MessageRow).where(MessageRow.ses_message_id == ses_message_id)
            )
            return _message_record(row) if row else None

    # ---------------------------------------------------------------- suppression list

    def suppressed_among(self, addresses: Iterable[str]) -> set[str]:
        """The given addresses (lower-cased) that are on the suppression list now."""
        wanted = {a.lower() for a in addresses}
        if not wanted:
            return set()
        now = utcnow()
        with self.transaction(read_only=True) as session:
            rows = session.execute(
                select(SuppressionRow.address, SuppressionRow.expires_at).where(
                    SuppressionRow.address.in_(wanted)
                )
            ).all()
        return {address for address, expires in rows if expires is None or _aware(expires) > now}

    def suppress(
        self,
        address: str,
        *,
        reason: str,
        source: str,
        detail: str | None = None,
        expires_at: dt.datetime | None = None,
        session: Session | None = None,
    ) -> None:
        """Add or refresh an entry: ``first_seen`` is kept, the rest updated."""
        if session is None:
            with self.transaction() as own:
                self.suppress(
                    address,
                    reason=reason,
                    source=source,
                    detail=detail,
                    expires_at=expires_at,
                    session=own,
                )
            return
        now = utcnow()
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        changes = {
            "reason": reason,
            "source": source,
            "detail": detail,
            "last_seen": now,
            "expires_at": expires_at,
        }
        # One upsert: two workers suppressing the same address at once cannot collide.
        statement = (
            module.insert(SuppressionRow.__table__)
            .values(address=address.lower(), first_seen=now, **changes)
            .on_conflict_do_update(index_elements=["address"], set_=changes)
        )
        session.execute(statement)

    def unsuppress(self, address: str, *, tenant: str | None = None) -> bool:
        """Take ``address`` off the suppression list (with ``tenant``: off that tenant's
        own list); False when it was not on it."""
        with self.transaction() as session:
            if tenant is None:
                statement = delete(SuppressionRow).where(SuppressionRow.address == address.lower())
            else:
                statement = delete(TenantSuppressionRow).where(
                    TenantSuppressionRow.tenant == tenant,
                    TenantSuppressionRow.address == address.lower(),
                )
            result = session.execute(statement)
            return bool(getattr(result, "rowcount", 0))

    def suppressions(
        self, *, reason: str | None = None, tenant: str | None = None
    ) -> list[Suppression]:
        """The whole suppression list (only ``reason``'s entries when given), by address;
        with ``tenant``, that tenant's own list. For a large list, page through it instead
        (the dashboard does)."""
        row: Any = SuppressionRow if tenant is None else TenantSuppressionRow
        with self.transaction(read_only=True) as session:
            query = select(row).order_by(row.address)
            if tenant is not None:
                query = query.where(row.tenant == tenant)
            if reason:
                query = query.where(row.reason == reason)
            return [
                Suppression(
                    r.address,
                    r.reason,
                    r.source,
                    r.detail,
                    _aware(r.first_seen),
                    _aware(r.last_seen),
                    _aware(r.expires_at) if r.expires_at else None,
                )
                for r in session.scalars(query)
            ]


def _message_record(row: MessageRow) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        ses_message_id=row.ses_message_id,
        sender=row.sender,
        subject=row.subject,
        status=row.status,
        error=row.error,
        recipients=tuple(RecipientRecord(r.address, r.kind, r.status) for r in row.recipients),
        tenant=row.tenant,
    )


def _with_context(error: StoreError, context: str) -> StoreError:
    return type(error)(f"{context}: {error}")


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
