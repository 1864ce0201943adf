"""Store: engine, migrations, transactions, and the queries the library needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from courrier.errors import ConfigurationError, StoreError
from courrier.store.tables import MessageRow, RecipientRow, SuppressionRow, utcnow


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


@dataclass(frozen=True)
class Suppression:
    address: str
    reason: str
    source: str
    detail: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    expires_at: dt.datetime | None


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; SQLAlchemy would pick psycopg2."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything courrier stores is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Store:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            parsed = make_url(normalise_url(url))
            self.engine: Engine = create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, ValueError, ImportError) as err:
            raise ConfigurationError(f"cannot use database URL {url!r}: {err}") from err
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent)."""
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("courrier.store") / "migrations")
        )
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as err:
            raise StoreError(f"migrating the store failed: {err}") from err

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as err:
            raise StoreError(f"database error: {err}") from err
        finally:
            session.close()

    # ---------------------------------------------------------------- messages

    def record_message(
        self,
        *,
        sender: str,
        subject: str,
        configuration_set: str | None,
        recipients: Iterable[tuple[str, str, str]],
        status: str = "pending",
    ) -> int:
        """Store a message before it is sent; ``recipients`` are (address, kind, status)."""
        with self.transaction() as session:
            row = MessageRow(
                sender=sender, subject=subject, configuration_set=configuration_set, status=status
            )
            row.recipients = [
                RecipientRow(address=address.lower(), kind=kind, status=recipient_status)
                for address, kind, recipient_status in recipients
            ]
            session.add(row)
            session.flush()
            return row.id

    def finish_send(
        self,
        message_id: int,
        *,
        status: str,
        ses_message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record a send's outcome; recipients still pending take the message's status."""
        with self.transaction() as session:
            row = session.get(MessageRow, message_id)
            if row is None:
                raise StoreError(f"no message {message_id}")
            row.status = status
            row.error = error
            if ses_message_id:
                row.ses_message_id = ses_message_id
                row.sent_at = utcnow()
            for recipient in row.recipients:
                if recipient.status == "pending":
                    recipient.status = status
                    recipient.updated_at = utcnow()

    def message(self, message_id: int) -> MessageRecord | None:
        with self.transaction() as session:
            row = session.get(MessageRow, message_id)
            return _message_record(row) if row else None

    def message_by_ses_id(self, ses_message_id: str) -> MessageRecord | None:
        with self.transaction() as session:
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
        with self.transaction() as session:
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

    def unsuppress(self, address: str) -> bool:
        with self.transaction() as session:
            result = session.execute(
                delete(SuppressionRow).where(SuppressionRow.address == address.lower())
            )
            return bool(getattr(result, "rowcount", 0))

    def suppressions(self, *, reason: str | None = None) -> list[Suppression]:
        with self.transaction() as session:
            query = select(SuppressionRow).order_by(SuppressionRow.address)
            if reason:
                query = query.where(SuppressionRow.reason == reason)
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
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # WAL lets a worker write while readers read; busy_timeout waits out short write locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
