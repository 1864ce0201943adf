"""PostgreSQL connections in the pool: no ping on each checkout, a ping after a rest, and a
connection the server closed replaced before it is used."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from courrier.errors import StoreUnavailable
from courrier.store import Store
from courrier.store import engine as store_engine
from tests.conftest import _postgres_url
from tests.fakes import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[tuple[str, str]]:
    """A database of its own (its statistics count nobody else's transactions): the admin URL
    and the store's URL."""
    base = (_postgres_url() or "").replace("postgresql+psycopg://", "postgresql://")
    name = f"courrier_pool_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base, base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def committed(admin_url: str, name: str) -> int:
    """``xact_commit`` of database ``name``, read in a transaction that is rolled back (so
    that reading it adds nothing to it)."""
    with psycopg.connect(admin_url) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
        admin.rollback()
    assert row is not None
    return int(row[0])


def backend_of(store: Store) -> int:
    with store.transaction(read_only=True) as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(admin_url: str, pid: int) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_transaction_of_the_store_is_one_transaction_of_the_server(
    database: tuple[str, str],
) -> None:
    admin_url, url = database
    name = url.rsplit("/", 1)[1]
    store = Store(url)
    backend_of(store)
    store.close()  # the server counts a session's transactions when it ends
    before = wait_until(lambda: committed(admin_url, name) or None, what="the statistics")
    store = Store(url, migrate=False)
    for _ in range(20):
        with store.transaction() as session:
            session.execute(text("SELECT 1"))
    store.close()
    after = wait_until(
        lambda: (n := committed(admin_url, name)) >= before + 20 and n, what="20 commits"
    )
    # Twenty, and a few of the store's own when it opens (the SET on connect, the schema's
    # revision read): no ping before each one, which would make it forty and more.
    assert 20 <= after - before <= 24


def test_a_connection_the_server_closed_during_a_rest_is_replaced_before_use(
    database: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url, url = database
    store = Store(url)
    try:
        first = backend_of(store)
        terminate(admin_url, first)
        monkeypatch.setattr(store_engine, "PING_AFTER_IDLE", 0.0)
        # The pooled connection is pinged, found dead and replaced: the caller sees nothing.
        second = backend_of(store)
        assert second != first
        # In steady use it is not pinged: a connection that dies between two transactions
        # fails the next one (StoreUnavailable: try again), and the one after gets a new connection.
        monkeypatch.setattr(store_engine, "PING_AFTER_IDLE", 3600.0)
        terminate(admin_url, second)
        with pytest.raises(StoreUnavailable):
            backend_of(store)
        assert backend_of(store) not in (first, second)
    finally:
        store.close()
