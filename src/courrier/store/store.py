"""Store: transactions and the queries the library needs, over the engine and migrations of
:mod:`courrier.store.engine`."""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from courrier.errors import ConfigurationError, StoreError, StoreUnavailable, StoreUnusable
from courrier.statuses import MessageStatus
from courrier.store import engine as db
from courrier.store.engine import aware
from courrier.store.errors import store_error
from courrier.store.tables import MessageRow, SuppressionRow, TenantSuppressionRow, utcnow

if TYPE_CHECKING:
    from courrier.store.send_rate import TokenRequest
    from courrier.store.sends import Intent, NewMessage, OutboxFinish


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
    #: The SES tenant whose own entry it is (None: account-wide, every sender's).
    tenant: str | None = None

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
            parsed = make_url(db.normalise_url(url))
            # No ping at each checkout: on PostgreSQL it is a transaction of its own for
            # every one of courrier's (a round trip, and one more commit in
            # pg_stat_database); connections idle long enough to have died unseen are
            # pinged instead (courrier.store.engine.listen).
            self.engine: Engine = create_engine(parsed)
        except (ArgumentError, ValueError, ImportError) as err:
            raise ConfigurationError(f"cannot use database URL {url!r}: {err}") from err
        # A store dropped without close() closes its pooled connections when collected,
        # instead of leaving each driver connection to be reclaimed (and warned about) alone.
        weakref.finalize(self, self.engine.dispose)
        db.listen(self.engine)
        self._file: db.SqliteFile | None = None
        database = parsed.database or ""
        # A file: URI names its file in its own way; only plain paths are watched.
        plain = database not in ("", ":memory:") and not database.startswith("file:")
        if self.dialect == "sqlite" and plain:
            self._file = db.SqliteFile(database)
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
        if self._file is not None:
            self._file.remember()

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
        db.migrate(self.engine, self._immediate)

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
                raise db.with_context(error, "the store cannot be reached") from err
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

    def _check_file(self) -> None:
        if self._file is not None:
            self._file.check()

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
        return {address for address, expires in rows if expires is None or aware(expires) > now}

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
                    aware(r.first_seen),
                    aware(r.last_seen),
                    aware(r.expires_at) if r.expires_at else None,
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
