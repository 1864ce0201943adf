"""Reputation, stats and the dashboard against the store's size: reads at a million messages.

Fills stores of 10k and 100k messages (1M with ``--million``) by bulk SQL in the shape of
real traffic: 30 days, one recipient each (one in ten at gmail.com), 2% hard bounces,
0.05% complaints, deliveries for the rest, and suppressions (5% of the messages, at most
50,000). The tables are created by courrier's migrations up to 0005, filled, then opened
with courrier so that the later migrations (the rollups' backfill, the search indexes) run
on the data. Then, medians of 3 runs: ``Guard.evaluate()``, the stats report behind
``courrier stats --json`` (7 and 30 days), the overview and ``/messages`` pages (plain,
``?q=`` an address prefix or a subject's words, ``?status=complained``),
``/suppressions`` (plain and ``?q=``), and ``apply`` of 100 new events; and the ratios
100k / 10k.

    python bench/scale.py [--sizes 10000,100000] [--million] [--sqlite-only | --postgres-only]
                          [--plans]

``--plans`` adds, on PostgreSQL, the buffers each read touches and the server's time for
it (``EXPLAIN (ANALYZE, BUFFERS)`` of each query it sends, summed).

PostgreSQL runs when ``COURRIER_TEST_POSTGRES_URL`` is set (a schema of its own, dropped
afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from starlette.testclient import TestClient

from courrier.errors import AwsError
from courrier.feedback import decode
from courrier.feedback.apply import apply
from courrier.reputation import Guard, report
from courrier.settings import Settings
from courrier.store import Store
from courrier.web.app import make_app

DAY = 86400


class _NoSes:
    """The bench is offline: SES's own view is reported as unavailable."""

    def account(self) -> Any:
        raise AwsError("offline benchmark")


def _upgrade(url: str, revision: str) -> None:
    store = Store(url, migrate=False)
    config = Config()
    config.set_main_option("script_location", str(resources.files("courrier.store") / "migrations"))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    store.close()


def _series(dialect: str, count: int) -> str:
    if dialect == "postgresql":
        return f"SELECT generate_series(1, {count}) AS n"
    return f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s"  # noqa: E501


def _created(dialect: str, count: int) -> str:
    """n = 1 is 30 days old, n = count is now."""
    offset = f"(CAST({count} - n AS REAL) * {30 * DAY} / {count})"
    if dialect == "postgresql":
        return f"(now() - make_interval(secs => {offset}))"
    return f"(strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || CAST({offset} AS INTEGER) || ' seconds') || '.000000')"  # noqa: E501


def fill(url: str, count: int) -> None:
    """``count`` messages of one recipient each, their feedback, and the suppressions."""
    _upgrade(url, "0005")
    store = Store(url, migrate=False)
    dialect = store.dialect
    series, created = _series(dialect, count), _created(dialect, count)
    address = "'r' || n || CASE WHEN n % 10 = 0 THEN '@gmail.com' ELSE '@example' || (n % 97) || '.com' END"  # noqa: E501
    bounced, complained = "n % 50 = 0", "n % 2000 = 7"
    statements = [
        f"INSERT INTO messages (id, ses_message_id, sender, subject, configuration_set, status,"
        f" created_at, sent_at) SELECT n, 'm-' || n, 'news@example.com', 'Newsletter ' || n,"
        f" 'cs', 'sent', {created}, {created} FROM ({series}) AS s",
        f"INSERT INTO recipients (id, message_id, address, kind, status, updated_at)"
        f" SELECT n, n, {address}, 'to', CASE WHEN {bounced} THEN 'bounced'"
        f" WHEN {complained} THEN 'complained' ELSE 'delivered' END, {created}"
        f" FROM ({series}) AS s",
        f"INSERT INTO feedback_events (event_key, kind, subtype, recipient, ses_message_id,"
        f" action, occurred_at, received_at, payload) SELECT 'k-' || n || '-' || CASE WHEN"
        f" {bounced} THEN 'b' ELSE 'd' END, CASE WHEN {bounced} THEN 'Bounce' ELSE 'Delivery'"
        f" END, CASE WHEN {bounced} THEN 'Permanent/General' END, {address}, 'm-' || n,"
        f" CASE WHEN {bounced} THEN 'suppress' ELSE 'record' END, {created}, {created}, '{{}}'"
        f" FROM ({series}) AS s",
        f"INSERT INTO feedback_events (event_key, kind, subtype, recipient, ses_message_id,"
        f" action, occurred_at, received_at, payload) SELECT 'k-' || n || '-c', 'Complaint',"
        f" 'abuse', {address}, 'm-' || n, 'suppress', {created}, {created}, '{{}}'"
        f" FROM ({series}) AS s WHERE {complained}",
        f"INSERT INTO suppressions (address, reason, source, first_seen, last_seen)"
        f" SELECT 's' || n || '@example.org', 'bounce', 'feedback', {created}, {created}"
        f" FROM ({_series(dialect, min(count // 20, 50_000))}) AS s",
    ]
    if dialect == "postgresql":
        statements += [
            "SELECT setval(pg_get_serial_sequence(t, 'id'), (SELECT max(id) FROM messages))"
            " FROM (VALUES ('messages'), ('recipients')) AS v(t)",
            "ANALYZE",
        ]
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    store.close()


def _bodies(count: int, start: int) -> list[str]:
    """New deliveries (and one bounce in fifty) for messages already in the store."""
    out = []
    for n in range(start, start + count):
        bounce = n % 50 == 0
        address = f"r{n}@example{n % 97}.com" if n % 10 else f"r{n}@gmail.com"
        mail = {"messageId": f"m-{n}", "timestamp": "2024-05-14T09:12:01Z", "source": "a@b.c"}
        body: dict[str, Any] = {"notificationType": "Bounce" if bounce else "Delivery"}
        body["mail"] = {**mail, "destination": [address]}
        if bounce:
            body["bounce"] = {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": f"new-{n}",
                "timestamp": "2024-05-14T09:12:03Z",
                "bouncedRecipients": [{"emailAddress": address}],
            }
        else:
            body["delivery"] = {"timestamp": "2024-05-14T09:12:09Z", "recipients": [address]}
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4())}
        out.append(json.dumps({**envelope, "TopicArn": "arn:t", "Message": json.dumps(body)}))
    return out


def median(function: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def explained(store: Store, read: Callable[[], object]) -> tuple[float, float]:
    """The buffers PostgreSQL touches and its milliseconds for ``read``: ``EXPLAIN (ANALYZE,
    BUFFERS)`` of each query it sends, summed. Steadier than wall time on a shared machine:
    they do not wait for a core."""
    sent: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((args[2], args[3]))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        read()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    buffers, server = 0.0, 0.0
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in sent:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0][0]
            top = plan["Plan"]
            buffers += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
            server += plan["Execution Time"]
    finally:
        raw.close()
    return buffers, server


def measure(url: str, count: int, *, plans: bool = False) -> dict[str, float]:
    fill(url, count)
    started = time.perf_counter()
    store = Store(url)  # 0006 backfills the rollups, 0009 and 0012 build the search indexes
    figures = {"migrations after 0005": time.perf_counter() - started}
    settings = Settings(database_url=url)
    guard = Guard(store, settings)
    # A loopback Host: the dashboard answers 421 to other names without a token.
    client = TestClient(make_app(store, settings, ses=_NoSes), base_url="http://127.0.0.1")  # type: ignore[arg-type]

    def page(path: str) -> Callable[[], None]:
        def get() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return get

    reads: dict[str, Callable[[], object]] = {
        "Guard.evaluate()": guard.evaluate,
        "stats 7 days": lambda: report(store, settings, days=7),
        "stats 30 days": lambda: report(store, settings, days=30),
        "overview /": page("/"),
        "/messages": page("/messages"),
        "/messages?q=r12345": page("/messages?q=r12345"),
        "/messages?status=complained": page("/messages?status=complained"),
        "/messages?q=<subject>": page("/messages?q=Newsletter%2012345"),
        "/suppressions": page("/suppressions"),
        "/suppressions?q=s1234": page("/suppressions?q=s1234"),
    }
    for name, read in reads.items():
        figures[name] = median(read)
    if plans and store.dialect == "postgresql":
        for name, read in reads.items():
            buffers, server = explained(store, read)
            figures[f"{name}: buffers"] = buffers
            figures[f"{name}: server ms"] = server
    batches = iter(range(3))

    def apply_100() -> None:
        start = 1 + 100 * next(batches)
        apply(store, [decode(b) for b in _bodies(100, start)])

    figures["apply 100 events"] = median(apply_100)
    store.close()
    return figures


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/scale.db"
        return
    import psycopg

    base = os.environ["COURRIER_TEST_POSTGRES_URL"]
    schema = f"scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 (slow)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    parser.add_argument(
        "--plans", action="store_true", help="also PostgreSQL's buffers and time for each read"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.million else [])
    kinds = [] if args.postgres_only else ["sqlite"]
    if os.environ.get("COURRIER_TEST_POSTGRES_URL") and not args.sqlite_only:
        kinds.append("postgresql")
    for kind in kinds:
        results = {}
        for size in sizes:
            with database(kind) as url:
                results[size] = measure(url, size, plans=args.plans)
        names = list(results[sizes[0]])
        print(f"\n{kind}: seconds (median of 3)")
        print(f"{'':44}" + "".join(f"{s:>12,}" for s in sizes) + f"{'ratio':>10}")
        for name in names:
            row = "".join(f"{results[s][name]:>12.4f}" for s in sizes)
            ratio = results[sizes[-1]][name] / max(results[sizes[0]][name], 1e-9)
            print(f"{name:44}{row}{ratio:>10.2f}")


if __name__ == "__main__":
    main()
