"""The reputation guard on both stores: real feedback trips it exactly once, and only then."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from courrier.aws.ses import AccountView, SesClient
from courrier.aws.sqs import SqsQueue
from courrier.errors import AwsUnreachable, ConfigurationError, ReputationGuardTripped
from courrier.feedback.apply import Applied
from courrier.feedback.observer import WorkerObserver
from courrier.feedback.worker import Worker
from courrier.message import Message
from courrier.reputation import Guard, Trip
from courrier.reputation.guard import ACCOUNT_INTERVAL, STATE_TTL
from courrier.reputation.observer import GuardObserver
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.guard import trips
from tests.conftest import SENDER, UNSUBSCRIBE, SandboxClient
from tests.fakes import FakeClock
from tests.reputation import scenario

SIM = scenario.SIM

#: Rehearsal settings: SES leaves simulator traffic out of its rates, so the guard is
#: rehearsed with it counted (the documented purpose of reputation_count_simulator).
REHEARSAL = Settings(database_url="unused", reputation_count_simulator=True, guard_min_volume=20)


def addresses(case: str, count: int, start: int = 0) -> list[tuple[list[str], bool]]:
    return [([f"{case}+{n}@{SIM}"], False) for n in range(start, start + count)]


def test_bounce_rate_trips_once_through_real_feedback(env: SandboxClient, store: Store) -> None:
    queue = scenario.prepare(env, store)
    fired: list[Trip] = []
    guard = Guard(store, REHEARSAL, hooks=[fired.append])
    observers = [GuardObserver(guard)]

    scenario.send(store, addresses("success", 48))
    scenario.apply_feedback(env, store, queue, observers)
    assert guard.tripped() is None

    scenario.send(store, addresses("bounce", 1))  # 1 of 49: 2.04%, under the 4% line
    scenario.apply_feedback(env, store, queue, observers)
    assert guard.tripped() is None
    assert fired == []

    scenario.send(store, addresses("bounce", 2, start=1))  # 3 of 51: 5.88%
    scenario.apply_feedback(env, store, queue, observers)
    assert len(fired) == 1
    trip = fired[0]
    assert (trip.rate, trip.threshold) == ("bounce_rate", 0.04)
    assert trip.value == pytest.approx(3 / 51)
    assert trip.figures["counted_hard_bounces"] == 3
    assert "bounce rate 5.88% reached the guard's line of 4.00%" in trip.detail

    scenario.send(store, addresses("bounce", 2, start=3))  # still over: no second trip
    scenario.apply_feedback(env, store, queue, observers)
    assert len(fired) == 1
    assert [t.id for t in trips(store)] == [trip.id]


def test_complaint_rate_trips_once(env: SandboxClient, store: Store) -> None:
    queue = scenario.prepare(env, store)
    fired: list[Trip] = []
    guard = Guard(store, REHEARSAL, hooks=[fired.append])
    scenario.send(store, addresses("success", 30) + addresses("complaint", 1))
    scenario.apply_feedback(env, store, queue, [GuardObserver(guard)])
    assert [(t.rate, t.threshold) for t in fired] == [("complaint_rate", 0.0008)]
    assert fired[0].value == pytest.approx(1 / 31)


def test_below_minimum_volume_it_never_trips(env: SandboxClient, store: Store) -> None:
    queue = scenario.prepare(env, store)
    guard = Guard(store, dataclasses.replace(REHEARSAL, guard_min_volume=500))
    scenario.send(store, addresses("success", 10) + addresses("bounce", 10))
    scenario.apply_feedback(env, store, queue, [GuardObserver(guard)])
    assert guard.evaluate() is None
    assert trips(store) == []
    assert guard.status().state == "low volume"


def test_simulator_traffic_alone_never_trips_with_ses_counting(
    env: SandboxClient, store: Store
) -> None:
    queue = scenario.prepare(env, store)
    guard = Guard(store, dataclasses.replace(REHEARSAL, reputation_count_simulator=False))
    scenario.send(store, addresses("success", 25) + addresses("bounce", 10))
    scenario.apply_feedback(env, store, queue, [GuardObserver(guard)])
    assert trips(store) == []


def test_many_workers_trip_it_exactly_once(env: SandboxClient, database_url: str) -> None:
    stores = [Store(database_url) for _ in range(4)]
    queue = scenario.prepare(env, stores[0])
    scenario.send(stores[0], addresses("success", 40) + addresses("bounce", 10))
    env.drain()
    fired: list[Trip] = []
    guards = [Guard(s, REHEARSAL, hooks=[fired.append]) for s in stores]
    barrier = threading.Barrier(len(guards))

    def race(guard: Guard) -> None:
        barrier.wait()
        guard.evaluate()

    threads = [threading.Thread(target=race, args=(g,)) for g in guards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fired == []  # no feedback applied yet: nothing to judge
    workers = [
        threading.Thread(target=scenario.apply_feedback, args=(env, s, queue, [GuardObserver(g)]))
        for s, g in zip(stores, guards, strict=True)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    threads = [threading.Thread(target=race, args=(g,)) for g in guards]
    barrier.reset()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fired) == 1
    assert len(trips(stores[0])) == 1
    for s in stores:
        s.close()


def tripped_guard(store: Store, **settings: Any) -> Guard:
    guard = Guard(store, dataclasses.replace(REHEARSAL, **settings))
    trip = guard._trip("bounce_rate", 0.06, 0.04, "bounce rate 6.00% reached 4.00%", None)
    assert trip is not None
    return guard


def message(*, bulk: bool, to: str = f"success@{SIM}") -> Message:
    return Message(sender=SENDER, to=[to], subject="s", text="x", bulk=bulk)


def test_a_tripped_guard_refuses_bulk_and_never_drops_transactional(
    env: SandboxClient, store: Store
) -> None:
    env.ses.verify_email_identity(EmailAddress=SENDER)
    guard = tripped_guard(store)
    mailer = Mailer(
        store, SesClient(), settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000), guard=guard
    )
    with pytest.raises(ReputationGuardTripped, match="bulk send refused") as refused:
        mailer.send(message(bulk=True))
    assert (refused.value.rate, refused.value.value, refused.value.threshold) == (
        "bounce_rate",
        0.06,
        0.04,
    )
    with store.transaction() as session:
        from courrier.store.tables import MessageRow

        assert session.query(MessageRow).count() == 0  # refused before anything was recorded
    results = [mailer.send(message(bulk=False)) for _ in range(3)]
    assert [r.status for r in results] == ["sent"] * 3


def test_blocking_transactional_sends_is_a_setting(env: SandboxClient, store: Store) -> None:
    env.ses.verify_email_identity(EmailAddress=SENDER)
    guard = tripped_guard(store, guard_blocks_transactional=True)
    mailer = Mailer(
        store, SesClient(), settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000), guard=guard
    )
    with pytest.raises(ReputationGuardTripped, match="transactional send refused"):
        mailer.send(message(bulk=False))


def test_reset_clears_it_and_keeps_the_history(env: SandboxClient, store: Store) -> None:
    env.ses.verify_email_identity(EmailAddress=SENDER)
    guard = tripped_guard(store)
    closed = guard.reset("list cleaned")
    assert closed is not None
    assert closed.reset_note == "list cleaned"
    assert guard.reset() is None  # nothing left to reset
    assert guard.tripped() is None
    mailer = Mailer(
        store, SesClient(), settings=Settings(**UNSUBSCRIBE), pacer=Pacer(1000), guard=guard
    )
    assert mailer.send(message(bulk=True)).status == "sent"
    history = trips(store)
    assert len(history) == 1
    assert history[0].reset_at is not None
    again = guard._trip("complaint_rate", 0.01, 0.0008, "again", None)
    assert again is not None
    assert again.id != closed.id


def test_other_processes_see_a_trip_within_the_state_ttl(store: Store) -> None:
    clock = FakeClock()
    sender = Guard(store, REHEARSAL, clock=clock)
    assert sender.tripped() is None
    tripped_guard(store)
    clock.now += STATE_TTL - 0.5
    assert sender.tripped() is None  # still the cached state
    clock.now += 1
    tripped = sender.tripped()
    assert tripped is not None
    assert tripped.rate == "bounce_rate"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"enforcement_status": "PROBATION"}, "EnforcementStatus is PROBATION"),
        ({"enforcement_status": "SHUTDOWN"}, "EnforcementStatus is SHUTDOWN"),
        ({"sending_enabled": False}, "SendingEnabled is false"),
    ],
)
def test_ses_own_view_trips_it_read_at_most_once_a_minute(
    env: SandboxClient, store: Store, change: dict[str, Any], detail: str
) -> None:
    ses = SesClient()
    calls: list[int] = []

    def account() -> AccountView:
        calls.append(1)
        return ses.account()

    clock = FakeClock()
    fired: list[Trip] = []
    guard = Guard(store, REHEARSAL, account=account, clock=clock, hooks=[fired.append])
    guard.before_send(bulk=True)
    assert len(calls) == 1
    env.set_account(**change)
    clock.now += ACCOUNT_INTERVAL - 1
    guard.before_send(bulk=True)  # the account is not read again within the minute
    guard.before_send(bulk=False)
    assert len(calls) == 1
    clock.now += 2
    with pytest.raises(ReputationGuardTripped) as refused:
        guard.before_send(bulk=True)
    assert len(calls) == 2
    assert refused.value.rate == "ses_account"
    assert [t.detail for t in fired] == [f"SES says {detail}"]


def test_an_unreadable_account_does_not_block_sends(store: Store) -> None:
    from courrier.errors import AwsUnreachable

    def account() -> AccountView:
        raise AwsUnreachable("GetAccount: connection refused")

    guard = Guard(store, REHEARSAL, account=account)
    guard.before_send(bulk=True)
    assert trips(store) == []


def test_status_asks_ses_at_most_once_a_minute_failures_too(store: Store) -> None:
    calls: list[int] = []

    def account() -> AccountView:
        calls.append(1)
        raise AwsUnreachable("GetAccount: read timeout")

    clock = FakeClock()
    guard = Guard(store, REHEARSAL, account=account, clock=clock)
    for _ in range(3):
        assert guard.status().account_error == "GetAccount: read timeout"
    assert guard.account_view() == (None, "GetAccount: read timeout")
    assert len(calls) == 1
    clock.now += ACCOUNT_INTERVAL
    guard.status()
    assert len(calls) == 2


def test_one_slow_account_read_holds_back_no_other_caller(store: Store) -> None:
    """While one caller waits on SES, the others answer at once with the last view."""
    entered, release = threading.Event(), threading.Event()

    def account() -> AccountView:
        entered.set()
        release.wait(30)
        raise AwsUnreachable("GetAccount: read timeout")

    guard = Guard(store, REHEARSAL, account=account)
    slow = threading.Thread(target=guard.status)
    slow.start()
    try:
        assert entered.wait(10)
        assert guard.status().account_error == "still being read"
        assert guard.account_view() == (None, "still being read")
    finally:
        release.set()
        slow.join(10)
    assert guard.account_view() == (None, "GetAccount: read timeout")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"guard_bounce_trip": 4.0}, "guard_bounce_trip must be a fraction"),
        ({"guard_complaint_warning": 0.0}, "guard_complaint_warning must be a fraction"),
        ({"guard_bounce_warning": 0.05}, "guard_bounce_warning must not be above"),
        ({"guard_min_volume": 0}, "guard_min_volume"),
    ],
)
def test_bad_guard_settings_name_the_key(
    store: Store, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Guard(store, dataclasses.replace(REHEARSAL, **settings))


class CountingGuard(Guard):
    """A real guard that counts its judgements."""

    evaluations = 0

    def evaluate(self) -> Trip | None:
        self.evaluations += 1
        return super().evaluate()


def test_a_worker_judges_at_most_once_an_interval_and_when_it_stops(
    env: SandboxClient, store: Store
) -> None:
    queue = scenario.prepare(env, store)
    fired: list[Trip] = []
    # Only all 30 bounces cross the line (30 of 90 is 33%; one batch's 10 at most 11%).
    settings = dataclasses.replace(REHEARSAL, guard_bounce_trip=0.25)
    guard = CountingGuard(store, settings, hooks=[fired.append])
    observer = GuardObserver(guard, interval=3600.0)
    scenario.send(store, addresses("success", 60))
    scenario.apply_feedback(env, store, queue, [observer])
    assert guard.evaluations == 0  # no bounce or complaint: nothing to judge
    scenario.send(store, addresses("bounce", 30))
    worker = scenario.apply_feedback(env, store, queue, [observer])
    assert worker.stats.batches >= 3
    # The first batch with bounces is judged at once; the next ones wait for the interval,
    # and the end of the run judges what is still waiting, so the trip is not missed. (On a
    # busy machine the guard's thread may wake only after every batch is applied: then its
    # one judgement covers them all and nothing is left for the end.)
    assert guard.evaluations in (1, 2)
    assert len(fired) == 1
    assert fired[0].figures["counted_hard_bounces"] == 30


class BlockedGuard(Guard):
    """A real guard whose judgements wait until the test lets them go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.judging = threading.Event()
        self.release = threading.Event()
        self.evaluations = 0
        self.threads: set[str] = set()

    def evaluate(self) -> Trip | None:
        self.evaluations += 1
        self.threads.add(threading.current_thread().name)
        self.judging.set()
        assert self.release.wait(timeout=120), "the test never released the judgement"
        return super().evaluate()


class LoopEnd(WorkerObserver):
    """Counts the bounces applied; says when the worker's loop is over (it is listed
    before the guard's observer, so its ``stopped`` comes first)."""

    def __init__(self) -> None:
        self.bounces = 0
        self.over = threading.Event()

    def applied(self, applied: Applied) -> None:
        self.bounces += sum(1 for event, _ in applied.stored if event.kind == "Bounce")

    def stopped(self) -> None:
        self.over.set()


def test_a_slow_judgement_never_holds_back_applying(env: SandboxClient, store: Store) -> None:
    queue = scenario.prepare(env, store)
    fired: list[Trip] = []
    settings = dataclasses.replace(REHEARSAL, guard_bounce_trip=0.25)
    guard = BlockedGuard(store, settings, hooks=[fired.append])
    scenario.send(store, addresses("success", 60))
    scenario.send(store, addresses("bounce", 30))
    env.drain()
    loop = LoopEnd()
    worker = Worker(
        SqsQueue(queue), store, wait_seconds=0, observers=[loop, GuardObserver(guard, interval=0)]
    )
    running = threading.Thread(target=worker.run, kwargs={"until_idle": True})
    running.start()
    try:
        assert guard.judging.wait(timeout=120)
        # The first judgement is stuck, yet every batch is applied and deleted from SQS.
        assert loop.over.wait(timeout=120)
        assert loop.bounces == 30
        assert worker.stats.deleted == worker.stats.received >= 90
        assert guard.evaluations == 1
        assert fired == []
        assert running.is_alive()  # Worker.run waits for the judgement still due
    finally:
        guard.release.set()
        running.join(timeout=120)
    assert not running.is_alive()
    # The one in progress, then the batches that came meanwhile (none came when the applier
    # was quicker than the guard's thread to reach the first judgement).
    assert guard.evaluations in (1, 2)
    # The first on the guard's own thread; the second there too, or in Worker.run's stop.
    assert "courrier-guard" in guard.threads
    assert guard.threads <= {"courrier-guard", running.name}
    assert len(fired) == 1
    assert fired[0].figures["counted_hard_bounces"] == 30
