"""Outbox runners as processes: SIGKILLed at random moments, then restarted until nothing is
left. Every message ends sent exactly once or ``unknown``; none is lost or sent twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from courrier.message import Message
from courrier.sending.outbox import enqueue_many
from courrier.store import Store
from courrier.store import outbox as rows
from courrier_sandbox import Sandbox, SesOptions, SimulatorOptions
from tests.conftest import SENDER, SandboxClient
from tests.fakes import wait_until

#: Messages in the kill test; bench/outbox_kill.py runs the same with 1,000 or more.
COUNT = int(os.environ.get("COURRIER_OUTBOX_KILL_COUNT", "200"))
#: Rounds of kills before the last runner is left to finish.
ROUNDS = int(os.environ.get("COURRIER_OUTBOX_KILL_ROUNDS", "4"))


def runner(sandbox: SandboxClient, database_url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "courrier", "outbox", "run", "--batch", "5", *extra],
        env={
            **os.environ,
            "AWS_ENDPOINT_URL": sandbox.url,
            "COURRIER_DATABASE_URL": database_url,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def queue(store: Store, count: int) -> None:
    enqueue_many(
        store,
        [
            (Message(sender=SENDER, to=[f"r{n}@example.net"], text="x"), f"kill-{n}")
            for n in range(count)
        ],
    )


@pytest.fixture
def production() -> Iterator[SandboxClient]:
    """A sandbox of its own: a client killed mid-request can leave a send whose feedback
    never comes (the server cannot finish the answer), and ``drain`` would wait for it in
    every later test of a shared sandbox."""
    server = Sandbox(options=SesOptions(simulator=SimulatorOptions(delay=0.01)))
    server.start()
    sandbox = SandboxClient(server)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.set_account(
        production=True, max_send_rate=2000.0, max_send_burst=4000.0, max_24_hour_send=-1.0
    )
    yield sandbox
    server.stop()


def mailbox(sandbox: SandboxClient) -> Counter[str]:
    sandbox.server.drain(5)
    return Counter(m["recipient"] for m in sandbox.control("GET", "/mailbox")["messages"])


def test_killed_runners_never_lose_or_repeat_a_message(
    production: SandboxClient, store: Store, database_url: str
) -> None:
    queue(store, COUNT)
    rng = random.Random(11)
    kills = 0
    for _ in range(ROUNDS):
        if not rows.counts(store)["queued"]:
            break
        procs = [runner(production, database_url, "--until-empty") for _ in range(2)]
        for proc in procs:
            assert proc.stderr is not None
            proc.stderr.readline()  # started: from here on it claims and sends
        time.sleep(rng.uniform(0.1, 1.5))
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate(timeout=30)
    final = runner(production, database_url, "--until-empty")
    _, err = final.communicate(timeout=60)
    assert final.returncode == 0, err
    counts = rows.counts(store)
    assert counts["queued"] == counts["sending"] == counts["failed"] == 0, counts
    assert counts["sent"] + counts["unknown"] == COUNT
    assert kills >= 1
    # Only the row in hand may have reached SES: at most one unknown per kill.
    assert counts["unknown"] <= kills
    delivered = mailbox(production)
    assert max(delivered.values()) == 1  # never sent twice
    by_key = {e.key: e for e in rows.entries(store, limit=COUNT)}
    for n in range(COUNT):
        entry = by_key[f"kill-{n}"]
        copies = delivered.get(f"r{n}@example.net", 0)
        if entry.status == "sent":
            assert copies == 1, entry
        else:
            assert copies in (0, 1), entry  # unknown: a person decides
    print(f"\n{COUNT} messages, {kills} kills: {counts['sent']} sent, {counts['unknown']} unknown")


def test_sigterm_finishes_the_message_in_hand_and_exits_0(
    production: SandboxClient, store: Store, database_url: str
) -> None:
    production.set_account(max_send_rate=10.0, max_send_burst=10.0)
    queue(store, 100)
    proc = runner(production, database_url)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "started" in line, line
    # Signalled with messages sent and more queued: in the middle of its run.
    wait_until(lambda: rows.counts(store)["sent"] >= 1, timeout=30)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    counts = rows.counts(store)
    assert counts["sending"] == 0
    assert counts["sent"] >= 1
    assert counts["queued"] >= 1
    assert counts["sent"] + counts["queued"] == 100
    assert f"{counts['sent']} sent" in out
    assert sum(mailbox(production).values()) == counts["sent"]
