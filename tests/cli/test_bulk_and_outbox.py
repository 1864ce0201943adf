"""``courrier bulk`` and ``courrier outbox`` through click, against the sandbox, both stores."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from courrier.cli import main
from courrier.provisioning import Aws
from courrier.provisioning.tenants import create_tenant
from courrier.store import Store
from courrier.store import guard as guard_records
from courrier.store import outbox as rows
from courrier.store.tables import MessageRow
from tests.conftest import SENDER, UNSUBSCRIBE, SandboxClient

BAD = {17: "bob@@example.com", 101: "no-at-sign", 250: "zoë@example.com", 333: "", 498: "a@b"}


@pytest.fixture
def cli(
    sandbox: SandboxClient, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.setenv("COURRIER_DATABASE_URL", database_url)
    monkeypatch.setenv("COURRIER_SENDER", SENDER)
    for name, value in UNSUBSCRIBE.items():
        monkeypatch.setenv(f"COURRIER_{name.upper()}", value)
    monkeypatch.chdir(tmp_path)
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    sandbox.set_account(production=True)
    sandbox.sesv2.create_email_template(
        TemplateName="news", TemplateContent={"Subject": "Hi {{name}}", "Text": "{{name}} {{city}}"}
    )
    return CliRunner()


def write_csv(path: Path, count: int, bad: dict[int, str]) -> None:
    """``count`` data rows; ``bad`` maps a data row index to the address it carries."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name", "city"])
        for n in range(count):
            writer.writerow([bad.get(n, f"reader{n}@example.net"), f"Reader {n}", "Lyon"])


def queued(store: Store) -> int:
    return rows.counts(store)["queued"]


def test_a_file_with_bad_rows_queues_nothing_until_told(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    write_csv(tmp_path / "list.csv", 500, BAD)
    args = ["bulk", "--template", "news", "--recipients", "list.csv"]
    refused = cli.invoke(main, args)
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.startswith("  line ")]
    assert [int(line.split()[1].rstrip(":")) for line in lines] == [n + 2 for n in sorted(BAD)]
    assert "5 of 500 rows refused" in refused.stderr
    assert "nothing queued" in refused.stderr
    assert queued(store) == 0
    skipped = cli.invoke(main, [*args, "--skip-invalid"])
    assert skipped.exit_code == 0, skipped.output
    assert "495 queued, 0 already queued, 0 duplicates, 5 refused" in skipped.stdout
    assert queued(store) == 495
    again = cli.invoke(main, [*args, "--skip-invalid"])
    assert "0 queued, 495 already queued" in again.stdout
    assert queued(store) == 495
    # The refused rows fixed in the same file: only they are queued, nobody twice.
    write_csv(tmp_path / "list.csv", 500, {})
    fixed = cli.invoke(main, args)
    assert fixed.exit_code == 0, fixed.output
    assert "5 queued, 495 already queued, 0 duplicates, 0 refused" in fixed.stdout
    assert queued(store) == 500
    entry = rows.entries(store, limit=1)[0]
    assert entry.bulk
    assert json.loads(entry.payload)["data"] == {
        "email": "reader0@example.net",
        "name": "Reader 0",
        "city": "Lyon",
    }


def test_bulk_run_sends_and_outbox_status_reports(
    cli: CliRunner, store: Store, sandbox: SandboxClient, tmp_path: Path
) -> None:
    write_csv(tmp_path / "list.csv", 12, {})
    result = cli.invoke(
        main,
        [
            "bulk",
            "--template",
            "news",
            "--recipients",
            "list.csv",
            "--data-column",
            "name",
            "--data-column",
            "city",
            "--campaign",
            "spring",
            "--tag",
            "campaign=spring",
            "--run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "12 queued" in result.stdout
    assert "12 sent" in result.stdout
    sandbox.drain()
    assert len(sandbox.control("GET", "/mailbox")["messages"]) == 12
    status = cli.invoke(main, ["outbox", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == {
        "counts": {"queued": 0, "sending": 0, "sent": 12, "failed": 0, "unknown": 0},
        "paused": None,
        "unknown": [],
        "held_tenants": [],
    }


def test_outbox_status_says_paused_and_the_runner_leaves_bulk_rows(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    write_csv(tmp_path / "list.csv", 3, {})
    assert (
        cli.invoke(main, ["bulk", "--template", "news", "--recipients", "list.csv"]).exit_code == 0
    )
    guard_records.record_trip(
        store, rate="bounce_rate", value=0.0432, threshold=0.04, detail="x", figures={}
    )
    status = cli.invoke(main, ["outbox", "status"])
    assert "paused: bounce rate 4.3% >= 4%" in status.stdout
    assert "queued 3" in status.stdout
    run = cli.invoke(main, ["outbox", "run", "--until-empty"])
    assert run.exit_code == 0, run.output
    assert "nothing due" in run.stdout
    assert queued(store) == 3


def test_outbox_status_lists_unknown_rows_and_a_person_decides(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    write_csv(tmp_path / "list.csv", 2, {})
    assert (
        cli.invoke(main, ["bulk", "--template", "news", "--recipients", "list.csv"]).exit_code == 0
    )
    [first, _] = rows.claim(store, claimer="gone:1:x", limit=2, include_bulk=True)
    assert rows.start(store, first.id, claimer="gone:1:x")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert rows.expire_claims(store, claimed_before=later) == (1, 1)
    status = cli.invoke(main, ["outbox", "status"], terminal_width=200)
    assert "unknown 1" in status.stdout
    assert "gone:1:x" in status.stdout
    as_json = json.loads(cli.invoke(main, ["outbox", "status", "--json"]).stdout)
    assert [row["id"] for row in as_json["unknown"]] == [first.id]
    resolved = cli.invoke(main, ["outbox", "resolve", str(first.id), "--sent"])
    assert resolved.exit_code == 0, resolved.output
    assert f"row {first.id} is sent" in resolved.stdout
    refused = cli.invoke(main, ["outbox", "retry", str(first.id)])
    assert refused.exit_code == 1
    assert "left as it is" in refused.stderr
    missing = cli.invoke(main, ["outbox", "retry", "999"])
    assert missing.exit_code == 1
    assert "no outbox row 999" in missing.stderr
    usage = cli.invoke(main, ["outbox", "resolve", "1"])
    assert usage.exit_code == 2


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--email-column", "mail"], "no 'mail' column"),
        (["--data-column", "age"], "no column 'age'"),
        (["--template", "bad name"], "invalid template name"),
    ],
)
def test_bad_options_are_usage_errors(
    cli: CliRunner, tmp_path: Path, args: list[str], text: str
) -> None:
    write_csv(tmp_path / "list.csv", 2, {})
    result = cli.invoke(main, ["bulk", "--template", "news", "--recipients", "list.csv", *args])
    assert result.exit_code == 2
    assert text in result.output


def test_outbox_run_with_concurrency_sends_every_row_once(
    cli: CliRunner, store: Store, sandbox: SandboxClient, tmp_path: Path
) -> None:
    write_csv(tmp_path / "list.csv", 30, {})
    assert (
        cli.invoke(main, ["bulk", "--template", "news", "--recipients", "list.csv"]).exit_code == 0
    )
    run = cli.invoke(main, ["outbox", "run", "--until-empty", "--concurrency", "4"])
    assert run.exit_code == 0, run.output
    assert "30 sent" in run.stdout
    sandbox.drain()
    recipients = [m["recipient"] for m in sandbox.control("GET", "/mailbox")["messages"]]
    assert len(recipients) == len(set(recipients)) == 30
    refused = cli.invoke(main, ["outbox", "run", "--concurrency", "0"])
    assert refused.exit_code != 0


def bulk_args(*more: str) -> list[str]:
    return ["bulk", "--template", "news", "--recipients", "list.csv", *more]


def test_duplicate_addresses_are_counted_and_listed_with_the_line_they_repeat(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "list.csv").write_text(
        "email,name,city\n"
        "ana@bücher.example,Ana,Lyon\n"  # line 2
        "bob@example.com,Bob,Nice\n"  # line 3
        "ANA@BÜCHER.EXAMPLE,Ana again,Lyon\n"  # line 4
        '"Bob B. <Bob@Example.com>",Bob B,Nice\n'  # line 5
        "ana@xn--bcher-kva.example,Ana punycode,Lyon\n",  # line 6
        encoding="utf-8",
    )
    result = cli.invoke(main, bulk_args())
    assert result.exit_code == 0, result.output
    assert "2 queued, 0 already queued, 3 duplicates, 0 refused" in result.stdout
    assert "3 of 5 rows repeat an earlier row's address" in result.stdout
    listed = [line.strip() for line in result.stdout.splitlines() if line.startswith("  line ")]
    assert listed == [
        "line 4: 'ANA@BÜCHER.EXAMPLE': the same address as line 2",
        "line 5: 'Bob B. <Bob@Example.com>': the same address as line 3",
        "line 6: 'ana@xn--bcher-kva.example': the same address as line 2",
    ]
    assert queued(store) == 2


def test_a_refused_row_is_named_by_the_line_its_record_starts_on(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "list.csv").write_text(
        "email,name,city\n"
        + "".join(f"reader{n}@example.net,R{n},Lyon\n" for n in range(4))  # lines 2-5
        + 'bad@@example.net,"two\nlines",Lyon\n'  # lines 6-7
        + "last@example.net,L,Lyon\n",  # line 8
        encoding="utf-8",
    )
    result = cli.invoke(main, bulk_args())
    assert result.exit_code == 2, result.output
    assert "  line 6: 'bad@@example.net'" in result.stderr
    assert queued(store) == 0


def test_a_file_that_is_not_utf8_is_named_by_line(
    cli: CliRunner, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "list.csv").write_bytes(
        "email,name,city\nana@example.net,Ana,Lyon\nzoe@example.net,Zoé,Orléans\n".encode("latin-1")
    )
    result = cli.invoke(main, bulk_args())
    assert result.exit_code == 2, result.output
    [message] = result.stderr.splitlines()
    assert "list.csv: line 3 is not UTF-8" in message
    assert "the file must be UTF-8" in message
    assert queued(store) == 0


def test_a_template_variable_no_column_gives_is_refused_before_queuing(
    cli: CliRunner, store: Store, sandbox: SandboxClient, tmp_path: Path
) -> None:
    sandbox.sesv2.create_email_template(
        TemplateName="promo",
        TemplateContent={
            "Subject": "Hello {{name}}",
            "Text": "{{code}} {{#if vip}}{{perk}}{{/if}} {{#each items}}{{label}}{{/each}}",
        },
    )
    write_csv(tmp_path / "list.csv", 3, {})
    args = ["bulk", "--template", "promo", "--recipients", "list.csv"]
    refused = cli.invoke(main, args)
    assert refused.exit_code == 2, refused.output
    assert "{{code}}" in refused.stderr
    assert "perk" not in refused.stderr
    assert "label" not in refused.stderr
    assert queued(store) == 0
    covered = cli.invoke(main, [*args, "--default-data", '{"code": "SPRING"}'])
    assert covered.exit_code == 0, covered.output
    assert queued(store) == 3
    entry = rows.entries(store, limit=1)[0]
    assert json.loads(entry.payload)["data"]["code"] == "SPRING"
    absent = cli.invoke(main, ["bulk", "--template", "nothere", "--recipients", "list.csv"])
    assert absent.exit_code == 2
    assert "SES has no template 'nothere'" in absent.stderr


def test_a_campaign_without_a_way_to_unsubscribe_is_refused_before_anything_is_queued(
    cli: CliRunner, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_csv(tmp_path / "list.csv", 3, {})
    monkeypatch.delenv("COURRIER_UNSUBSCRIBE_URL")
    monkeypatch.delenv("COURRIER_UNSUBSCRIBE_SECRET")
    refused = cli.invoke(main, bulk_args("--run"))
    assert refused.exit_code != 0
    assert "unsubscribe_url" in refused.output
    assert queued(store) == 0
    monkeypatch.setenv("COURRIER_UNSUBSCRIBE_MANAGED_ELSEWHERE", "true")
    assert cli.invoke(main, bulk_args()).exit_code == 0
    assert queued(store) == 3


def test_unsubscribes_are_listed_resubscribed_and_counted(cli: CliRunner, store: Store) -> None:
    from courrier.store.unsubscribes import record_unsubscribe

    record_unsubscribe(store, "Ann@example.org", "news", "one-click")
    record_unsubscribe(store, "bob@example.org", None, "page")
    listed = cli.invoke(main, ["suppression", "unsubscribes", "--json"])
    assert listed.exit_code == 0, listed.output
    rows_ = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(r["address"], r["list"], r["source"]) for r in rows_} == {
        ("ann@example.org", "news", "one-click"),
        ("bob@example.org", None, "page"),
    }
    table = cli.invoke(main, ["suppression", "unsubscribes"], terminal_width=200)
    assert "every list" in table.output
    stats = cli.invoke(main, ["stats", "--json", "--no-account"])
    [line] = [json.loads(x) for x in stats.stdout.splitlines() if '"unsubscribes"' in x]
    assert (line["total"], line["recent"]) == (2, 2)
    back = cli.invoke(main, ["suppression", "resubscribe", "ann@example.org", "--list", "news"])
    assert back.exit_code == 0, back.output
    again = cli.invoke(main, ["suppression", "resubscribe", "ann@example.org", "--list", "news"])
    assert again.exit_code == 1
    assert "was not unsubscribed" in again.output


def test_a_campaign_for_a_tenant_goes_out_under_its_name(
    cli: CliRunner, store: Store, sandbox: SandboxClient, tmp_path: Path
) -> None:
    sandbox.sesv2.create_configuration_set(ConfigurationSetName="tenants")
    create_tenant(Aws(), "acme", identity=SENDER, configuration_set="tenants", templates=["news"])
    write_csv(tmp_path / "list.csv", 3, {})
    args = ["bulk", "--template", "news", "--recipients", "list.csv"]
    refused = cli.invoke(main, [*args, "--tenant", "acme corp"])
    assert refused.exit_code == 2, refused.output
    assert "invalid tenant name 'acme corp'" in refused.output
    assert queued(store) == 0
    sent = cli.invoke(main, [*args, "--tenant", "acme", "--configuration-set", "tenants", "--run"])
    assert sent.exit_code == 0, sent.output
    assert "3 sent" in sent.stdout
    with store.transaction(read_only=True) as session:
        assert list(session.scalars(select(MessageRow.tenant))) == ["acme"] * 3
    # The sandbox checked TenantName against the tenant's associations and counted its sends.
    assert sandbox.control("GET", "/tenants/acme")["attempts"] == 3
