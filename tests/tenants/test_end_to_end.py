"""Tenants end to end against the sandbox: two tenants send through one account;
complaints from one trip its guard and pause it, in courrier and in the sandbox's
reputation entity, while the other still sends; ``courrier stats --tenant`` shows each
one's figures as SES counts them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from courrier.aws.ses import SesClient
from courrier.cli import main
from courrier.errors import ReputationGuardTripped, TenantPaused
from courrier.message import Message
from courrier.provisioning import Aws
from courrier.provisioning.tenants import create_tenant
from courrier.reputation import Guard
from courrier.reputation.observer import GuardObserver
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.guard import open_trip, trips
from tests.conftest import SENDER, SandboxClient
from tests.reputation.scenario import apply_feedback
from tests.sandbox.helpers import CONFIG_SET, events_route

ANGRY = "angry@complaint.example.net"


def readers(tenant: str, count: int) -> list[str]:
    return [f"{tenant}-reader{n}@example.net" for n in range(count)]


def stats(database_url: str, tenant: str) -> dict[str, dict[str, Any]]:
    """``courrier stats --tenant --json``: its window and tenant lines, by kind."""
    result = CliRunner().invoke(
        main, ["--database-url", database_url, "stats", "--tenant", tenant, "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    return {line["kind"]: line for line in lines if line["kind"] != "day"}


def test_one_tenants_complaints_pause_it_while_the_other_sends(
    sandbox: SandboxClient, store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.setenv("COURRIER_GUARD_MIN_VOLUME", "20")  # the commands judge as the guard
    sandbox.set_account(production=True)
    pipeline = sandbox.pipeline()
    events_route(sandbox, pipeline)
    sandbox.control(
        "POST", "/recipients", {"pattern": "*@complaint.example.net", "outcome": "complaint"}
    )
    for tenant in ("acme", "globex"):
        create_tenant(Aws(), tenant, identity=SENDER, configuration_set=CONFIG_SET)
    settings = Settings(
        configuration_set=CONFIG_SET, guard_min_volume=20, unsubscribe_managed_elsewhere=True
    )
    guard = Guard(store, settings)
    mailer = Mailer(store, SesClient(), settings=settings, pacer=Pacer(1000), guard=guard)

    def send(tenant: str | None, to: Sequence[str], *, bulk: bool = False) -> bool:
        message = Message(
            sender=SENDER, to=tuple(to), text="x", subject="s", tenant=tenant, bulk=bulk
        )
        return mailer.send(message).sent

    for address in [*readers("acme", 19), ANGRY]:
        assert send("acme", [address])
    for address in readers("globex", 20):
        assert send("globex", [address])
    apply_feedback(sandbox, store, pipeline.queue_url, [GuardObserver(guard)])

    # courrier: acme's guard tripped on its own 1 in 20 (5%); globex's and the account's not.
    trip = guard.tripped("acme")
    assert trip is not None
    assert (trip.tenant, trip.rate) == ("acme", "complaint_rate")
    assert guard.tripped("globex") is None
    assert guard.tripped() is None
    with pytest.raises(ReputationGuardTripped, match="tenant acme"):
        send("acme", readers("acme", 1), bulk=True)
    assert send("globex", readers("globex-bulk", 1), bulk=True)
    assert send(None, ["someone@example.net"], bulk=True)

    # SES (the sandbox): acme's reputation entity is paused, globex's is not.
    with pytest.raises(TenantPaused):
        send("acme", readers("acme-again", 1))
    assert send("globex", readers("globex-again", 1))

    acme, globex = stats(database_url, "acme"), stats(database_url, "globex")
    assert (acme["window"]["recipients"], acme["window"]["complaints"]) == (20, 1)
    assert acme["window"]["complaint_rate"] == pytest.approx(0.05)
    assert acme["window"]["levels"]["complaint_rate"] == "over"
    assert acme["tenant"]["aggregate_status"] == "DISABLED"
    assert acme["tenant"]["sending_status"] == "DISABLED"
    assert (globex["window"]["recipients"], globex["window"]["complaints"]) == (22, 0)
    assert globex["window"]["complaint_rate"] == 0
    assert globex["tenant"]["aggregate_status"] == "ENABLED"

    runner = CliRunner()
    base = ["--database-url", database_url, "guard"]
    assert runner.invoke(main, [*base, "status", "--tenant", "acme"]).exit_code == 1
    assert runner.invoke(main, [*base, "status", "--tenant", "globex"]).exit_code == 0
    reset = runner.invoke(main, [*base, "reset", "--tenant", "acme", "--note", "list cleaned"])
    assert reset.exit_code == 0, reset.output
    assert "still over" in reset.output
    assert open_trip(store, "acme") is None
    assert [t.reset_note for t in trips(store, tenant="acme")] == ["list cleaned"]
