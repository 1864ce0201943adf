"""``courrier stats``, ``guard``, ``suppression sync``, ``worker --metrics-port`` and
``doctor``'s record, through click against the sandbox."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from courrier.aws.clients import AwsConfig
from courrier.cli import main
from courrier.cli.feedback import watchers
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.guard import last_doctor_run, record_trip
from tests.conftest import SandboxClient, free_port
from tests.reputation import scenario

SIM = scenario.SIM


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def cli(
    sandbox: SandboxClient, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.setenv("COURRIER_DATABASE_URL", db)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def small_scenario(sandbox: SandboxClient, db: str) -> Store:
    store = Store(db)
    queue = scenario.prepare(sandbox, store)
    scenario.send(
        store,
        [([f"success+{n}@{SIM}"], False) for n in range(3)]
        + [([f"reader{n}@example.com"], False) for n in range(4)]
        + [([f"bounce@{SIM}"], False)],
    )
    scenario.apply_feedback(sandbox, store, queue)
    return store


def test_stats_json_and_table(cli: CliRunner, sandbox: SandboxClient, db: str) -> None:
    small_scenario(sandbox, db)
    result = cli.invoke(main, ["stats", "--json", "--days", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["kind"] for line in lines] == ["day", "day", "window", "unsubscribes", "account"]
    window = lines[2]
    assert (window["recipients"], window["hard_bounces"], window["counted_recipients"]) == (8, 1, 4)
    assert window["bounce_rate"] == 0.0
    assert window["levels"] == {"bounce_rate": "low volume", "complaint_rate": "low volume"}
    assert window["thresholds"]["aws_review"] == {"bounce_rate": 0.05, "complaint_rate": 0.001}
    assert lines[4]["enforcement_status"] == "HEALTHY"
    assert (lines[3]["total"], lines[3]["recent"]) == (0, 0)
    assert lines[4]["production"] is True
    table = cli.invoke(main, ["stats"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "hard bounces" in table.output
    assert "EnforcementStatus HEALTHY" in table.output


def test_stats_without_aws_still_shows_the_store(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    result = cli.invoke(main, ["stats", "--json", "--days", "1"])
    assert result.exit_code == 0, result.output
    account = json.loads(result.output.splitlines()[-1])
    assert account["kind"] == "account"
    assert "GetAccount" in account["error"]


def test_guard_status_and_reset(cli: CliRunner, db: str) -> None:
    calm = cli.invoke(main, ["guard", "status", "--json"])
    assert calm.exit_code == 0, calm.output
    assert json.loads(calm.output)["state"] == "low volume"
    record_trip(
        Store(db),
        rate="bounce_rate",
        value=0.06,
        threshold=0.04,
        detail="bounce rate 6.00% reached the guard's line of 4.00%",
        figures={},
    )
    tripped = cli.invoke(main, ["guard", "status"])
    assert tripped.exit_code == 1
    assert "tripped" in tripped.output
    assert "bounce rate 6.00%" in tripped.output
    as_json = json.loads(cli.invoke(main, ["guard", "status", "--json"]).output)
    assert as_json["trip"]["rate"] == "bounce_rate"
    reset = cli.invoke(main, ["guard", "reset", "--note", "list cleaned"])
    assert reset.exit_code == 0
    assert "guard reset (trip 1" in reset.output
    assert cli.invoke(main, ["guard", "reset"]).output.strip() == "the guard was not tripped"
    history = json.loads(cli.invoke(main, ["guard", "status", "--json"]).output)["history"]
    assert history[0]["reset_note"] == "list cleaned"


def test_reset_warns_when_the_rates_are_still_over(
    cli: CliRunner, sandbox: SandboxClient, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURRIER_REPUTATION_COUNT_SIMULATOR", "true")
    monkeypatch.setenv("COURRIER_GUARD_MIN_VOLUME", "5")
    store = small_scenario(sandbox, db)  # 1 hard bounce in 8: 12.5%
    record_trip(store, rate="bounce_rate", value=0.125, threshold=0.04, detail="over", figures={})
    result = cli.invoke(main, ["guard", "reset"])
    assert result.exit_code == 0
    assert "still over the guard's line" in result.output


def test_suppression_sync_command(cli: CliRunner, sandbox: SandboxClient, db: str) -> None:
    sandbox.set_account(production=True)
    for n in range(3):
        sandbox.sesv2.put_suppressed_destination(
            EmailAddress=f"ses{n}@example.com", Reason="BOUNCE"
        )
    Store(db).suppress("mine@example.com", reason="complaint", source="feedback")
    dry = cli.invoke(main, ["suppression", "sync", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.output)
    assert (len(plan["pulled"]), plan["pushed"], plan["dry_run"]) == (3, ["mine@example.com"], True)
    pulled = cli.invoke(main, ["suppression", "sync", "--pull"])
    assert pulled.exit_code == 0, pulled.output
    assert "pull 3: ses0@example.com, ses1@example.com, ses2@example.com" in pulled.output
    assert "push 0" in pulled.output
    assert "read 1 page(s)" in pulled.output
    sandbox.set_account(production=False)
    refused = cli.invoke(main, ["suppression", "sync", "--push"])
    assert refused.exit_code == 1
    assert "not allowed while the account is in the SES sandbox" in refused.output


def test_worker_serves_metrics_and_runs_the_guard(
    cli: CliRunner, sandbox: SandboxClient, db: str
) -> None:
    store = Store(db)
    queue = scenario.prepare(sandbox, store)
    observers, server = watchers(
        Settings(database_url=db), store, AwsConfig(), queue, free_port(), "127.0.0.1"
    )
    try:
        assert [type(o).__name__ for o in observers] == ["GuardObserver", "Metrics"]
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            names = {f.name for f in text_string_to_metric_families(r.read().decode())}
        assert {"courrier_feedback_events", "courrier_queue_messages", "courrier_messages"} <= names
    finally:
        server.close()
    scenario.send(store, [([f"success@{SIM}"], False)])
    sandbox.drain()
    [topic] = [t["TopicArn"] for t in sandbox.sns.list_topics()["Topics"]]
    result = cli.invoke(
        main,
        [
            "worker",
            "--queue-url",
            queue,
            "--allow-topic",
            topic,
            "--until-idle",
            "--wait",
            "0",
            "--metrics-port",
            str(free_port()),
            "--no-verify-signatures",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "metrics on http://127.0.0.1:" in result.output


def test_doctor_keeps_its_result_for_the_dashboard(cli: CliRunner, db: str) -> None:
    assert cli.invoke(main, ["setup", "--identity", "sender@example.com"]).exit_code == 0
    checked = cli.invoke(main, ["doctor", "--no-probe", "--no-dns"])
    assert checked.exit_code == 0, checked.output
    run = last_doctor_run(Store(db))
    assert run is not None
    assert run.status in ("ok", "warning")
    assert {"credentials and region", "identity verified"} <= {c["check"] for c in run.checks}
