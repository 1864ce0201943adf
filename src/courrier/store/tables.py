"""The store's tables. Every change goes through an Alembic migration in ``migrations/``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ADDRESS = 320  # RFC 3696 maximum for an address
#: Trigram indexes that migration 0009 creates on PostgreSQL when pg_trgm can be had, and
#: nowhere else: they are not declared below, so that the models hold on every store.
SEARCH_INDEXES = frozenset({"ix_messages_subject_trgm", "ix_suppressions_address_trgm"})
#: FTS5 tables that migration 0012 creates on SQLite when its trigram tokenizer is there
#: (:mod:`courrier.store.fulltext`), with the tables FTS5 keeps for each; not declared either.
SEARCH_TABLES = frozenset(
    f"{name}{part}"
    for name in ("messages_search", "suppressions_search")
    for part in ("", "_data", "_idx", "_content", "_docsize", "_config")
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


def table_of(row: type[Base]) -> Table:
    """The Core table of a mapped class, for statements on the hot path that skip the ORM
    (``__table__`` is typed as any FromClause)."""
    table = row.__table__
    assert isinstance(table, Table)
    return table


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_created_at", "created_at"),
        # /messages?status= takes the newest page of one status.
        Index("ix_messages_status_id", "status", "id"),
        # The dashboard's pages of one tenant, newest first.
        Index("ix_messages_tenant_id", "tenant", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ses_message_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    sender: Mapped[str] = mapped_column(String(ADDRESS))
    subject: Mapped[str] = mapped_column(Text, default="")
    configuration_set: Mapped[str | None] = mapped_column(String(64))
    #: pending | sent | unknown | failed | suppressed
    status: Mapped[str] = mapped_column(String(20), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: The SES tenant it was sent for (``TenantName``); NULL: the account's.
    tenant: Mapped[str | None] = mapped_column(String(64))

    recipients: Mapped[list[RecipientRow]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="RecipientRow.id"
    )


class RecipientRow(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        # Pattern operators on PostgreSQL: equality, and LIKE 'prefix%' in any collation.
        Index(
            "ix_recipients_address", "address", postgresql_ops={"address": "varchar_pattern_ops"}
        ),
        # /messages?status= finds the newest messages with a recipient in that status.
        Index("ix_recipients_status", "status", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    address: Mapped[str] = mapped_column(String(ADDRESS))
    kind: Mapped[str] = mapped_column(String(3))  # to | cc | bcc
    #: pending | sent | suppressed | unknown | failed, then what feedback says happened
    status: Mapped[str] = mapped_column(String(30))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: What counts about this recipient in the rates (:class:`courrier.store.rollups.Flag`);
    #: NULL until it is first counted in ``recipient_hours``.
    flags: Mapped[int | None] = mapped_column(Integer)

    message: Mapped[MessageRow] = relationship(back_populates="recipients")


class OutboxRow(Base):
    """A message waiting in the outbox, sent by ``courrier outbox run``.

    ``status``: queued -> sending (claimed, committed before SES is called) -> sent | failed,
    back to queued (throttled or unreachable, at ``next_attempt_at``), or unknown (its
    claimer went away after ``started_at`` and before the record: never re-sent blindly).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # One tenant's queued rows: its hold's probe, and when a claim may next find one.
        Index("ix_outbox_tenant_due", "tenant", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # single | template
    bulk: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    send_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set (and committed) just before its runner hands it to the Mailer: a claimed row
    #: without it never reached SES and goes back to the queue if its runner goes away.
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The SES tenant of its message (NULL: the account's): a claim skips held tenants.
    tenant: Mapped[str | None] = mapped_column(String(64))


class TenantHoldRow(Base):
    """SES paused a tenant: its queued outbox rows wait, in every runner, until
    ``held_until``; then one row (``probe_id``, claimed until ``probe_until``) asks SES
    again before the others. The row is deleted when the probe is not refused as paused."""

    __tablename__ = "tenant_holds"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    held_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    held_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: SES's answer that paused it.
    error: Mapped[str | None] = mapped_column(Text)
    #: The outbox row claimed to ask SES first once the hold ended (no foreign key: it is
    #: cleared with the hold, and a row deleted meanwhile only delays the next probe).
    probe_id: Mapped[int | None] = mapped_column(Integer)
    #: Until when that claim stands; a probe whose runner went away is replaced after it.
    probe_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SuppressionRow(Base):
    __tablename__ = "suppressions"

    address: Mapped[str] = mapped_column(String(ADDRESS), primary_key=True)
    reason: Mapped[str] = mapped_column(String(30))  # bounce | complaint | manual | ...
    source: Mapped[str] = mapped_column(String(30))  # feedback | manual | import
    detail: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TenantSuppressionRow(Base):
    """An address suppressed for one SES tenant only: the reason was the tenant's own (a
    complaint about its mail), so the account's other tenants may still send to it. Hard
    bounces stay on the account-wide list (``suppressions``), as SES keeps them."""

    __tablename__ = "tenant_suppressions"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS), primary_key=True)
    reason: Mapped[str] = mapped_column(String(30))
    source: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class FeedbackEventRow(Base):
    """Append-only: one row per feedback event, unique by ``event_key``."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        Index("ix_feedback_events_recipient", "recipient", "kind"),
        # The events of one recipient of one message: what the rollups recount from.
        Index("ix_feedback_events_message_recipient", "ses_message_id", "recipient", "kind"),
        # Counted soft bounces per recipient (apply's suppression rule): a rare action.
        Index(
            "ix_feedback_events_soft_bounces",
            "recipient",
            "received_at",
            postgresql_where=text("action = 'count_soft_bounce'"),
            sqlite_where=text("action = 'count_soft_bounce'"),
        ),
        # The latest complaints: a rare kind among millions of deliveries.
        Index(
            "ix_feedback_events_complaints",
            "received_at",
            postgresql_where=text("kind = 'Complaint'"),
            sqlite_where=text("kind = 'Complaint'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    subtype: Mapped[str | None] = mapped_column(String(200))
    recipient: Mapped[str | None] = mapped_column(String(ADDRESS))
    ses_message_id: Mapped[str] = mapped_column(String(100), index=True)
    feedback_id: Mapped[str | None] = mapped_column(String(200))
    sns_message_id: Mapped[str | None] = mapped_column(String(100))
    topic_arn: Mapped[str | None] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload: Mapped[str] = mapped_column(Text)
    #: The SES tenant the event is about (its ``ses:tenant-name`` tag); NULL: none.
    tenant: Mapped[str | None] = mapped_column(String(64))


class SnsReceiptRow(Base):
    """SNS messages already applied: a redelivered one changes nothing."""

    __tablename__ = "sns_receipts"

    sns_message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GuardTripRow(Base):
    """Each time the reputation guard tripped; at most one is open (not yet reset).

    ``open_slot`` is 1 for the open trip and NULL once reset: its unique constraint lets
    any number of workers race to trip the guard and exactly one insert win.
    """

    __tablename__ = "guard_trips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    open_slot: Mapped[int | None] = mapped_column(Integer, unique=True)
    tripped_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rate: Mapped[str] = mapped_column(String(30))  # bounce_rate | complaint_rate | ses_account
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    figures: Mapped[str] = mapped_column(Text)  # JSON: the window it was judged on
    reset_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reset_note: Mapped[str | None] = mapped_column(Text)


class DoctorRunRow(Base):
    """The result of each ``courrier doctor`` run, for the dashboard."""

    __tablename__ = "doctor_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ran_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(10))  # ok | warning | failed
    checks: Mapped[str] = mapped_column(Text)  # JSON list of {check, status, detail, fix}


class RecipientHourRow(Base):
    """Rollup: how many recipients of the messages created in one UTC hour have each
    combination of :class:`courrier.store.rollups.Flag` (``flags`` = -1: how many of those
    messages SES accepted for at least one recipient). Kept in the transaction that changes
    a recipient's flags, so the rates read a few hundred rows whatever the store's size."""

    __tablename__ = "recipient_hours"

    #: Hours since the epoch (UTC) of the messages' ``created_at``.
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    flags: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recipients: Mapped[int] = mapped_column(BigInteger, default=0)


class TenantRecipientHourRow(Base):
    """Rollup: :class:`RecipientHourRow` for the messages of one tenant (those sent with a
    ``TenantName``), kept in the same transactions: one tenant's rates read its own few
    hundred rows, never the events."""

    __tablename__ = "tenant_recipient_hours"

    # The tenant first: one tenant's hours are one range of the primary key.
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    flags: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recipients: Mapped[int] = mapped_column(BigInteger, default=0)


class TenantGuardTripRow(Base):
    """Each time the reputation guard tripped for one tenant; at most one open per tenant.

    ``open_tenant`` is the tenant's name while the trip is open and NULL once reset: its
    unique constraint lets any number of workers race to trip one tenant's guard and
    exactly one insert win (as ``guard_trips.open_slot`` does for the account).
    """

    __tablename__ = "tenant_guard_trips"
    __table_args__ = (Index("ix_tenant_guard_trips_tenant", "tenant", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    open_tenant: Mapped[str | None] = mapped_column(String(64), unique=True)
    tripped_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rate: Mapped[str] = mapped_column(String(30))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    figures: Mapped[str] = mapped_column(Text)
    reset_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reset_note: Mapped[str | None] = mapped_column(Text)


class SendRateRow(Base):
    """The token bucket every process sending through one SES region shares.

    Times are seconds since the epoch on the store's clock (PostgreSQL's, or the one machine
    a SQLite file lives on), so machines whose clocks differ still refill it alike.
    ``tokens`` may be negative: a message with more recipients than the bucket holds goes
    when it is full and leaves a debt the next senders wait out. ``max_send_rate`` is SES's
    (``rate_source`` "ses", re-read when ``rate_checked_at`` is old) or the setting's.
    """

    __tablename__ = "send_rates"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # the SES region
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    max_send_rate: Mapped[float] = mapped_column(Float)
    rate_source: Mapped[str] = mapped_column(String(10))  # ses | setting
    rate_checked_at: Mapped[float | None] = mapped_column(Float)
    #: Recipients admitted since the row was created.
    admitted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class UnsubscribeRow(Base):
    """A recipient who asked to receive no more bulk mail of ``list_name`` ('' = any list)
    from ``tenant`` ('' = the account: every sender's bulk mail, tenants' included).

    Kept apart from the suppression list: an unsubscribe stops bulk mail only, and
    transactional mail (a receipt, a password reset) still goes.
    """

    __tablename__ = "unsubscribes"
    __table_args__ = (
        Index("ix_unsubscribes_address_list_tenant", "address", "list_name", "tenant", unique=True),
        Index("ix_unsubscribes_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(ADDRESS))
    list_name: Mapped[str] = mapped_column(String(64), default="")
    #: The SES tenant whose link it came from: its own lists only ('' = the account's).
    tenant: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: one-click | page | manual | import
    source: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
