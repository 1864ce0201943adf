"""The rollups equal a full recount: after real traffic applied by worker processes killed at
random moments, after a rebuild, and after the migration's backfill, on both stores."""

from __future__ import annotations

import datetime as dt
import random
import signal
import time
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from courrier.store import Store, rollups
from courrier.store import stats as rolled
from courrier.store.stats import Counting
from courrier.store.tables import RecipientHourRow
from tests.conftest import SandboxClient
from tests.feedback.test_worker import start_worker
from tests.reputation import scenario
from tests.store import recount

COUNTINGS = [
    Counting(),
    Counting(count_simulator=True),
    Counting(no_complaint_feedback_domains=("example.com",)),
    Counting(no_complaint_feedback_domains=()),
]


def rollup_rows(store: Store) -> dict[tuple[int, int], int]:
    with store.transaction(read_only=True) as session:
        rows = session.execute(select(RecipientHourRow)).scalars().all()
        return {(r.hour, r.flags): r.recipients for r in rows if r.recipients}


def assert_equal_to_recount(store: Store) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    # A start inside an hour: the partial hour is counted from the rows.
    odd = since + dt.timedelta(minutes=17, seconds=3)
    for counting in COUNTINGS:
        for start in (since, odd):
            assert rolled.counts(store, counting, since=start) == recount.counts(
                store, counting, since=start
            ), counting
        assert rolled.counts_by_day(store, counting, since=since) == recount.counts_by_day(
            store, counting, since=since
        )
        for volume in (1, 7, 50, 10_000):
            assert rolled.window_start(
                store, counting, volume=volume, oldest=since
            ) == recount.window_start(store, counting, volume=volume, oldest=since)


def test_rollups_equal_a_recount_after_killed_workers(
    env: SandboxClient, database_url: str
) -> None:
    store = Store(database_url)
    queue_url = scenario.prepare(env, store)
    name = queue_url.rsplit("/", 1)[1]  # the sandbox's pipeline names topic and queue alike
    topics = [t["TopicArn"] for t in env.sns.list_topics()["Topics"]]
    allow = ("--allow-topic", next(t for t in topics if t.endswith(f":{name}")))
    scenario.send(store, [(m, g.eicar) for g in scenario.groups() for m in g.messages])
    env.drain()
    env.sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "2"})
    chance = random.Random()
    kills = 0
    for _ in range(3):
        proc = start_worker(
            env.url, queue_url, database_url, *allow, "--wait", "1", "--concurrency=2"
        )
        time.sleep(chance.uniform(1.0, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=30)
    final = start_worker(env.url, queue_url, database_url, *allow, "--wait", "3", "--until-idle")
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert kills >= 1
    figures = rolled.counts(store, Counting(), since=dt.datetime.now(dt.UTC) - dt.timedelta(1))
    assert figures.as_dict() == {
        k: v for k, v in scenario.EXPECTED.items() if not k.endswith("_rate")
    }
    assert_equal_to_recount(store)
    incremental = rollup_rows(store)
    with store.transaction() as session:
        rollups.rebuild(session)
    assert rollup_rows(store) == incremental
    store.close()


def _alembic(store: Store, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", "src/courrier/store/migrations")
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_migration_backfills_what_was_stored(env: SandboxClient, database_url: str) -> None:
    store = Store(database_url)
    scenario.run(env, store)
    expected = rollup_rows(store)
    _alembic(store, "0005", down=True)
    with store.engine.connect() as connection:
        version: Any = connection.execute(text("select version_num from alembic_version")).scalar()
    assert version == "0005"
    _alembic(store, "head")
    assert rollup_rows(store) == expected
    assert_equal_to_recount(store)
    store.close()
