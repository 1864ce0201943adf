"""Migrations 0010 and 0011 on what was stored before them: the unsubscribes stay the
account's, and the rows of a tenant get their tenant from their payload."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from courrier.message import Message
from courrier.sending.payload import to_payload
from courrier.store import Store
from courrier.store import outbox as rows
from courrier.store.unsubscribes import list_unsubscribes, unsubscribed_in
from tests.store.test_rollups import _alembic


def _version(store: Store) -> Any:
    with store.engine.connect() as connection:
        return connection.execute(text("select version_num from alembic_version")).scalar()


def test_unsubscribes_stored_before_tenants_stay_the_accounts(database_url: str) -> None:
    store = Store(database_url)
    _alembic(store, "0009", down=True)
    assert _version(store) == "0009"
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "insert into unsubscribes (address, list_name, source, created_at) "
                "values ('reader@example.org', 'news', 'one-click', CURRENT_TIMESTAMP)"
            )
        )
    _alembic(store, "head")
    [entry] = list_unsubscribes(store)
    assert (entry.address, entry.list_name, entry.tenant) == ("reader@example.org", "news", None)
    with store.transaction(read_only=True) as session:
        # Still every sender's: a tenant's bulk mail of the list skips the address too.
        assert unsubscribed_in(session, [entry.address], "news", tenant="acme") == {entry.address}
    store.close()


def test_rows_of_a_tenant_get_their_tenant_whatever_their_status(database_url: str) -> None:
    store = Store(database_url)
    _alembic(store, "0010", down=True)
    assert _version(store) == "0010"
    values = []
    for n, (tenant, status) in enumerate(
        [
            ("acme", "queued"),
            (None, "queued"),
            ("globex", "sending"),
            ("acme", "sent"),
            ("globex", "failed"),
            ("acme", "unknown"),
        ]
    ):
        kind, payload = to_payload(
            Message("a@example.com", ["b@example.org"], "x", text="x", tenant=tenant)
        )
        values.append({"key": f"k{n}", "kind": kind, "payload": payload, "status": status})
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "insert into outbox (idempotency_key, kind, bulk, payload, send_at, status, "
                "attempts, next_attempt_at, created_at, updated_at) values (:key, :kind, "
                "false, :payload, CURRENT_TIMESTAMP, :status, 0, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            values,
        )
    _alembic(store, "head")
    found = {e.key: e.tenant for e in rows.entries(store, limit=10)}
    # Every status: a failed or unknown row queued again by a person waits for its hold too.
    assert found == {
        "k0": "acme",
        "k1": None,
        "k2": "globex",
        "k3": "acme",
        "k4": "globex",
        "k5": "acme",
    }
    assert json.loads(values[3]["payload"])["tenant"] == "acme"
    store.close()
