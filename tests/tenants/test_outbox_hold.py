"""A paused tenant's outbox rows share one hold, kept in the store: no runner claims them
until it ends, then one row asks SES first, and the others follow only once it passes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.config import Config
from sqlalchemy import update

from courrier.aws.ses import SesClient
from courrier.message import Message
from courrier.provisioning import Aws
from courrier.provisioning.tenants import create_tenant
from courrier.sending import Mailer, Pacer
from courrier.sending.runner import OutboxRunner
from courrier.settings import Settings
from courrier.statuses import OutboxStatus, RunOutcome
from courrier.store import Store
from courrier.store import outbox as rows
from courrier.store.guard import record_trip
from courrier.store.outbox import Hold, NewEntry, OutboxEntry
from courrier.store.tables import OutboxRow, TenantHoldRow
from tests.conftest import REGION, SandboxClient, boto3_client

SENDER = "sender@example.com"
SUCCESS = "success@simulator.amazonses.com"
CONFIG_SET = "tenants"
HOLD = 0.6


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def queue(store: Store, *tenants: str | None) -> list[int]:
    new = [
        NewEntry(f"k{n}-{tenant}", "single", False, "{}", _now(), tenant)
        for n, tenant in enumerate(tenants)
    ]
    return [entry.id for entry, _ in rows.enqueue(store, new)]


def hold(store: Store, tenant: str, seconds: float, entry_id: int = 0) -> None:
    with store.transaction() as session:
        rows.hold_in(session, entry_id, Hold(tenant, _now() + dt.timedelta(seconds=seconds)))


def end_hold(store: Store, tenant: str) -> None:
    """As if the hold's time had passed: it ended, and its rows are due."""
    past = _now() - dt.timedelta(seconds=1)
    with store.transaction() as session:
        session.execute(
            update(TenantHoldRow).where(TenantHoldRow.tenant == tenant).values(held_until=past)
        )
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.tenant == tenant, OutboxRow.next_attempt_at > past)
            .values(next_attempt_at=past)
        )


def claimed_tenants(store: Store, claimer: str) -> list[tuple[str | None, bool]]:
    found = rows.claim(store, claimer=claimer, limit=10, include_bulk=True)
    return [(entry.tenant, entry.probe) for entry in found]


def test_a_held_tenants_rows_are_claimed_by_nobody_until_one_probes(store: Store) -> None:
    acme = queue(store, "acme", "acme", "acme", "globex", None)[:3]
    hold(store, "acme", 3600)
    assert claimed_tenants(store, "a") == [("globex", False), (None, False)]
    assert claimed_tenants(store, "b") == []
    # The next look is when the hold ends, not the held rows' own (past) retry time.
    upcoming = rows.next_due(store, include_bulk=True)
    assert upcoming is not None
    assert upcoming > _now() + dt.timedelta(seconds=3500)

    end_hold(store, "acme")
    assert claimed_tenants(store, "a") == [("acme", True)]  # one row, as the probe
    assert claimed_tenants(store, "b") == []  # the others wait for its answer
    [held] = rows.holds(store)
    assert held.probe_id == acme[0]

    # A probe given back unsent (its runner stopped): another claimer takes it at once.
    assert rows.release(store, [acme[0]], claimer="a") == 1
    assert claimed_tenants(store, "b") == [("acme", True)]
    assert rows.finish(store, acme[0], claimer="b", status=OutboxStatus.SENT, hold=Hold("acme"))
    assert rows.holds(store) == []  # it passed: the hold is lifted, the others go
    assert claimed_tenants(store, "a") == [("acme", False), ("acme", False)]


def test_outbox_status_names_the_held_tenants(store: Store, database_url: str) -> None:
    from click.testing import CliRunner

    from courrier.cli import main

    hold(store, "acme", 3600)
    runner = CliRunner()
    base = ["--database-url", database_url, "outbox", "status"]
    shown = runner.invoke(main, base)
    assert shown.exit_code == 0, shown.output
    assert "tenant acme paused by SES: its rows wait until" in shown.output
    [held] = json.loads(runner.invoke(main, [*base, "--json"]).output)["held_tenants"]
    assert held["tenant"] == "acme"


def test_a_probe_refused_as_paused_holds_the_tenant_again(store: Store) -> None:
    acme = queue(store, "acme", "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    assert claimed_tenants(store, "a") == [("acme", True)]
    again = Hold("acme", _now() + dt.timedelta(seconds=3600), "TenantPaused")
    assert rows.finish(store, acme[0], claimer="a", status=OutboxStatus.QUEUED, hold=again)
    [held] = rows.holds(store)
    assert (held.probe_id, held.error) == (None, "TenantPaused")
    assert claimed_tenants(store, "b") == []


def test_a_probe_whose_runner_went_away_is_replaced_after_the_lease(store: Store) -> None:
    queue(store, "acme", "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    assert rows.claim(store, claimer="a", limit=10, include_bulk=True, lease=0.05)
    assert claimed_tenants(store, "b") == []
    time.sleep(0.1)
    assert claimed_tenants(store, "b") == [("acme", True)]


def test_a_probe_settled_without_asking_ses_hands_the_probe_on(store: Store) -> None:
    acme = queue(store, "acme", "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    assert claimed_tenants(store, "a") == [("acme", True)]
    # Every recipient suppressed: SES was not asked, so the tenant may still be paused.
    unasked = Hold("acme", asked=False)
    assert rows.finish(store, acme[0], claimer="a", status=OutboxStatus.FAILED, hold=unasked)
    assert [h.probe_id for h in rows.holds(store)] == [None]
    assert claimed_tenants(store, "b") == [("acme", True)]


def test_a_finish_without_a_hold_of_another_row_leaves_the_hold(store: Store) -> None:
    acme = queue(store, "acme", "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    claimed_tenants(store, "a")
    with store.transaction() as session:
        # Only the probe lifts the hold: a row claimed before the pause proves nothing.
        rows.hold_in(session, acme[1], Hold("acme"))
    assert [h.tenant for h in rows.holds(store)] == ["acme"]


def test_holding_a_tenant_moves_its_queued_rows_to_the_holds_end(store: Store) -> None:
    queue(store, "acme", "acme", "globex")
    hold(store, "acme", 3600)
    [held] = rows.holds(store)
    due = {e.tenant: e.next_attempt_at for e in rows.entries(store, status="queued")}
    # Off the front of the due index: a claim no longer steps over them.
    assert due["acme"] == held.held_until
    assert due["globex"] < _now()


def test_a_row_queued_for_a_held_tenant_is_due_when_the_hold_ends(store: Store) -> None:
    hold(store, "acme", 3600)
    [held] = rows.holds(store)
    queue(store, "acme", "globex")
    due = {e.tenant: e.next_attempt_at for e in rows.entries(store)}
    assert due["acme"] == held.held_until
    assert due["globex"] < _now()


def test_holds_whose_rows_this_claim_cannot_take_do_not_crowd_out_a_probe(
    store: Store,
) -> None:
    rows.enqueue(store, [NewEntry("k-bulk", "template", True, "{}", _now(), "bulky")])
    queue(store, "acme")
    hold(store, "bulky", 3600)
    hold(store, "acme", 3600)
    end_hold(store, "bulky")
    end_hold(store, "acme")
    # One probe a claim of one row; bulky's ended first, but its only row is bulk.
    found = rows.claim(store, claimer="a", limit=1, include_bulk=False)
    assert [(e.tenant, e.probe) for e in found] == [("acme", True)]


def test_an_ended_hold_whose_rows_wait_for_later_does_not_wake_runners_now(
    store: Store,
) -> None:
    later = _now() + dt.timedelta(days=1)
    rows.enqueue(store, [NewEntry("k-later", "single", False, "{}", later, "acme")])
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    with store.transaction() as session:
        session.execute(update(OutboxRow).values(next_attempt_at=later))
    assert claimed_tenants(store, "a") == []
    assert rows.next_due(store, include_bulk=True) == later


def test_an_ended_hold_of_bulk_rows_only_is_not_due_while_bulk_is_off(store: Store) -> None:
    new = NewEntry("k-bulk", "template", True, "{}", _now(), "acme")
    rows.enqueue(store, [new])
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    # The account's guard is tripped: bulk rows are not claimed, so the hold gives nothing.
    assert rows.claim(store, claimer="a", limit=10, include_bulk=False) == []
    assert rows.next_due(store, include_bulk=False) is None
    assert [h.tenant for h in rows.holds(store)] == ["acme"]  # its bulk row still waits


def test_an_ended_hold_without_queued_rows_is_deleted(store: Store) -> None:
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    assert rows.next_due(store, include_bulk=True) is None
    assert claimed_tenants(store, "a") == []
    assert rows.holds(store) == []


def test_the_hold_of_a_probe_whose_runner_went_away_is_deleted_when_none_is_left(
    store: Store,
) -> None:
    [acme] = queue(store, "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    assert rows.claim(store, claimer="a", limit=10, include_bulk=True, lease=0.0)
    assert rows.start(store, acme, claimer="a")
    # Its runner died after the start: the row is unknown, no other row of acme is queued.
    assert rows.expire_claims(store, claimed_before=_now() + dt.timedelta(seconds=1)) == (1, 0)
    assert rows.next_due(store, include_bulk=True) is None
    assert claimed_tenants(store, "b") == []
    assert rows.holds(store) == []


def _probe_taken_over(store: Store) -> int:
    """Claimer a's probe expired before it started; b took the same row as the probe."""
    queue(store, "acme", "acme", "acme")
    hold(store, "acme", 3600)
    end_hold(store, "acme")
    [mine] = rows.claim(store, claimer="a", limit=10, include_bulk=True, lease=0.0)
    assert rows.expire_claims(store, claimed_before=_now() + dt.timedelta(seconds=1)) == (0, 1)
    assert claimed_tenants(store, "b") == [("acme", True)]
    assert [h.probe_id for h in rows.holds(store)] == [mine.id]
    return mine.id


def test_a_release_of_a_row_no_longer_its_own_leaves_the_other_claimers_probe(
    store: Store,
) -> None:
    probe = _probe_taken_over(store)
    assert rows.release(store, [probe], claimer="a") == 0
    assert [h.probe_id for h in rows.holds(store)] == [probe]
    assert claimed_tenants(store, "c") == []  # one probe at a time


def test_a_finish_of_a_row_no_longer_its_own_leaves_the_hold(store: Store) -> None:
    probe = _probe_taken_over(store)
    lifted = Hold("acme")
    assert not rows.finish(store, probe, claimer="a", status=OutboxStatus.SENT, hold=lifted)
    assert [h.probe_id for h in rows.holds(store)] == [probe]
    again = Hold("acme", _now() - dt.timedelta(seconds=1), "TenantPaused")
    assert not rows.finish(store, probe, claimer="a", status=OutboxStatus.QUEUED, hold=again)
    assert [(h.probe_id, h.error) for h in rows.holds(store)] == [(probe, None)]
    assert claimed_tenants(store, "c") == []


# ---------------------------------------------------------------- a probe SES never answered


def offline_runner(store: Store, settings: Settings) -> OutboxRunner:
    """A runner whose SES endpoint refuses every connection: no request reaches SES."""
    client = boto3_client(
        "sesv2",
        endpoint_url="http://127.0.0.1:9",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )
    return OutboxRunner(Mailer(store, SesClient(ses=client), settings=settings, pacer=Pacer(1000)))


def probe_of(runner: OutboxRunner) -> OutboxEntry:
    """Two queued rows of acme, whose hold ended: the runner's claim takes one as the probe."""
    for _ in range(2):
        runner.mailer.enqueue(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="acme"))
    hold(runner.store, "acme", 3600)
    end_hold(runner.store, "acme")
    [probe] = rows.claim(runner.store, claimer=runner.claimer, limit=10, include_bulk=True)
    assert probe.probe
    return probe


def test_a_probe_stopped_by_its_tenants_guard_hands_the_probe_on(store: Store) -> None:
    settings = Settings(unsubscribe_managed_elsewhere=True, guard_blocks_transactional=True)
    runner = offline_runner(store, settings)
    tripped = record_trip(
        store, rate="bounce_rate", value=0.1, threshold=0.05, detail="x", figures={}, tenant="acme"
    )
    assert tripped is not None
    assert runner.process(probe_of(runner)) is RunOutcome.REQUEUED
    # SES was not asked: the tenant may still be paused, so it stays held.
    assert [h.probe_id for h in rows.holds(store)] == [None]
    assert claimed_tenants(store, "b") == [("acme", True)]


def test_a_probe_that_could_not_reach_ses_hands_the_probe_on(store: Store) -> None:
    runner = offline_runner(store, Settings(unsubscribe_managed_elsewhere=True))
    probe = probe_of(runner)
    assert runner.process(probe) is RunOutcome.REQUEUED
    found = rows.entry(store, probe.id)
    assert found is not None
    assert found.error is not None
    assert "AwsUnreachable" in found.error
    assert [h.probe_id for h in rows.holds(store)] == [None]
    assert claimed_tenants(store, "b") == [("acme", True)]


def test_rows_claimed_before_another_runner_held_their_tenant_go_back_unsent(
    store: Store,
) -> None:
    runner = offline_runner(store, Settings(unsubscribe_managed_elsewhere=True))
    runner.idle = 0.02
    for _ in range(2):
        runner.mailer.enqueue(Message(sender=SENDER, to=[SUCCESS], text="x", tenant="acme"))
    first, second = (e.id for e in rows.entries(store))
    done: list[int] = []

    def on_row(entry: OutboxEntry, _: RunOutcome) -> None:
        done.append(entry.id)
        if entry.id == first:
            hold(store, "acme", 3600)  # as another runner that SES told of the pause

    runner.on_row = on_row
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: bool(done) and all(e.status == "queued" for e in rows.entries(store)))
    finally:
        runner.stop()
        thread.join(timeout=10)
    assert done == [first]
    after = rows.entry(store, second)
    assert after is not None
    assert (after.attempts, after.error, after.claimed_by) == (0, None, None)
    [held] = rows.holds(store)
    assert after.next_attempt_at == held.held_until  # due when the hold ends, as the others


# ---------------------------------------------------------------- two runners, the sandbox


@dataclass
class Call:
    tenant: str | None
    started: float
    ended: float = 0.0
    error: str | None = None


@dataclass
class Calls:
    """Every SendEmail the clients made: its tenant, when it started and ended, and how."""

    made: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    current: threading.local = field(default_factory=threading.local)

    def before(self, params: dict[str, Any], **_: Any) -> None:
        call = Call(json.loads(params["body"] or b"{}").get("TenantName"), time.monotonic())
        self.current.call = call
        with self.lock:
            self.made.append(call)

    def after(self, parsed: dict[str, Any], **_: Any) -> None:
        call: Call = self.current.call
        call.ended = time.monotonic()
        call.error = parsed.get("Error", {}).get("Code")

    def of(self, tenant: str | None) -> list[Call]:
        with self.lock:
            return [c for c in self.made if c.tenant == tenant]


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def mailers(
    sandbox: SandboxClient, store: Store, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> list[Mailer]:
    """Two mailers, each on a client of its own, for two runners."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.sesv2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    for tenant in ("acme", "globex"):
        create_tenant(Aws(), tenant, identity=SENDER, configuration_set=CONFIG_SET, templates=[])
    settings = Settings(
        unsubscribe_managed_elsewhere=True,
        configuration_set=CONFIG_SET,
        outbox_tenant_hold=HOLD,
    )
    made = []
    for _ in range(2):
        client = boto3_client(
            "sesv2",
            endpoint_url=sandbox.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}),
        )
        client.meta.events.register("before-call.sesv2.SendEmail", calls.before)
        client.meta.events.register("after-call.sesv2.SendEmail", calls.after)
        made.append(Mailer(store, SesClient(ses=client), settings=settings, pacer=Pacer(1000)))
    return made


def set_acme(sandbox: SandboxClient, status: str) -> None:
    arn = sandbox.sesv2.get_tenant(TenantName="acme")["Tenant"]["TenantArn"]
    sandbox.sesv2.update_reputation_entity_customer_managed_status(
        ReputationEntityType="RESOURCE", ReputationEntityReference=arn, SendingStatus=status
    )


@pytest.fixture
def running() -> Iterator[Callable[[Mailer], OutboxRunner]]:
    """Starts runners on threads of their own; stops and joins them after the test."""
    started: list[tuple[OutboxRunner, threading.Thread]] = []

    def start(mailer: Mailer) -> OutboxRunner:
        runner = OutboxRunner(mailer, batch=2, idle=0.02)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))
        return runner

    yield start
    for runner, thread in started:
        runner.stop()
        thread.join(timeout=10)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def enqueue(mailer: Mailer, tenant: str | None, count: int) -> None:
    for _ in range(count):
        mailer.enqueue(Message(sender=SENDER, to=[SUCCESS], text="x", tenant=tenant))


def test_two_runners_hold_a_paused_tenant_together_and_one_row_probes(
    sandbox: SandboxClient,
    store: Store,
    calls: Calls,
    mailers: list[Mailer],
    running: Callable[[Mailer], OutboxRunner],
) -> None:
    set_acme(sandbox, "DISABLED")
    enqueue(mailers[0], "acme", 5)
    running(mailers[0])
    wait_for(lambda: bool(rows.holds(store)))
    assert len(calls.of("acme")) == 1  # the first answer held every row of acme
    running(mailers[1])
    enqueue(mailers[0], "globex", 3)
    enqueue(mailers[0], None, 2)
    # The other tenants and the account's own mail go on meanwhile, through both runners.
    wait_for(lambda: rows.counts(store).get("sent", 0) == 5)
    time.sleep(HOLD * 2.5)
    paused = calls.of("acme")
    # One probe per hold, from either runner, never all five rows.
    assert 2 <= len(paused) <= 4
    assert {c.error for c in paused} == {"SendingPausedException"}
    starts = [c.started for c in paused]
    assert all(b - a >= HOLD * 0.9 for a, b in itertools.pairwise(starts))
    assert rows.counts(store)["queued"] == 5

    set_acme(sandbox, "ENABLED")
    wait_for(lambda: rows.counts(store).get("sent", 0) == 10, timeout=HOLD * 4 + 10)
    assert rows.holds(store) == []
    resumed = calls.of("acme")[len(paused) :]
    assert len(resumed) == 5
    assert all(c.error is None for c in resumed)
    # The probe's answer came before any other row of acme was tried.
    probe, *others = sorted(resumed, key=lambda c: c.started)
    assert all(probe.ended <= c.started for c in others)
