"""doctor's DNS checks against an authoritative DNS server on loopback: a good zone is all ok,
and each broken record is named with the record to publish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from courrier.cli import main
from courrier.errors import ConfigurationError
from courrier.provisioning import Aws, setup
from courrier.provisioning.checks import CheckStatus
from courrier.provisioning.dns_checks import Dns, DnsFacts, dns_checks, parse_nameservers
from tests.conftest import REGION, SandboxClient
from tests.provisioning.dns_server import dns_server

DOMAIN = "mail.example.com"
DNS_NAMES = ("DKIM records", "MAIL FROM MX", "MAIL FROM SPF", "DMARC")

TOKENS = ("tok1abc", "tok2def", "tok3ghi")
FACTS = DnsFacts(
    domain="example.com",
    from_domain="example.com",
    region="eu-west-1",
    dkim_tokens=TOKENS,
    mail_from="bounce.example.com",
)
AMAZON_SPF = 'amazonses.com. 300 IN TXT "v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all"\n'
SOA = "@ 300 IN SOA ns.test. admin.test. 1 60 60 60 60\n@ 300 IN NS ns.test.\n"


def zone(**changes: str | None) -> str:
    records = {
        **{
            f"dkim{n}": f"{t}._domainkey.example.com. 300 IN CNAME {t}.dkim.amazonses.com."
            for n, t in enumerate(TOKENS)
        },
        "mx": "bounce.example.com. 300 IN MX 10 feedback-smtp.eu-west-1.amazonses.com.",
        "spf": 'bounce.example.com. 300 IN TXT "v=spf1 include:amazonses.com ~all"',
        "dmarc": '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:d@x.example"',
    }
    for key, value in changes.items():
        records[key] = value or ""
    return SOA + AMAZON_SPF + "\n".join(v for v in records.values() if v) + "\n"


def statuses(zone_text: str, facts: DnsFacts = FACTS) -> dict[str, tuple[CheckStatus, str, str]]:
    with dns_server(zone_text) as servers:
        return {c.name: (c.status, c.detail, c.fix) for c in dns_checks(Dns(servers), facts)}


def test_a_good_zone_is_all_ok() -> None:
    found = statuses(zone())
    assert {name: status for name, (status, _, _) in found.items()} == {
        "DKIM records": CheckStatus.OK,
        "MAIL FROM MX": CheckStatus.OK,
        "MAIL FROM SPF": CheckStatus.OK,
        "DMARC": CheckStatus.OK,
    }


def test_a_missing_dkim_cname_fails_and_names_the_record() -> None:
    found = statuses(zone(dkim1="tok2def._domainkey.example.com. 300 IN CNAME elsewhere.example."))
    status, detail, fix = found["DKIM records"]
    assert status is CheckStatus.FAILED
    assert "1 of 3" in detail
    assert fix == "publish: tok2def._domainkey.example.com CNAME tok2def.dkim.amazonses.com"
    # DMARC still aligns through SPF, so it warns rather than fails.
    assert found["DMARC"][0] is CheckStatus.WARNING


@pytest.mark.parametrize(
    ("spf", "says"),
    [
        (None, "has no SPF record"),
        (
            'bounce.example.com. 300 IN TXT "v=spf1 include:_spf.google.com ~all"',
            "does not include",
        ),
        (
            'bounce.example.com. 300 IN TXT "v=spf1 include:amazonses.com ~all"\n'
            'bounce.example.com. 300 IN TXT "v=spf1 -all"',
            "2 SPF records",
        ),
    ],
)
def test_a_broken_spf_record_fails_with_the_record_to_publish(spf: str | None, says: str) -> None:
    status, detail, fix = statuses(zone(spf=spf))["MAIL FROM SPF"]
    assert status is CheckStatus.FAILED
    assert says in detail
    assert 'bounce.example.com TXT "v=spf1 include:amazonses.com ~all"' in fix


def test_spf_over_ten_lookups_fails() -> None:
    includes = [f"include:s{n}.example.net" for n in range(10)]
    extra = "".join(
        f's{n}.example.net. 300 IN TXT "v=spf1 ip4:192.0.2.{n} -all"\n' for n in range(10)
    )
    # Over 255 characters: one TXT record of several strings, joined by the reader.
    parts = (
        f'"v=spf1 include:amazonses.com {" ".join(includes[:5])} " "{" ".join(includes[5:])} ~all"'
    )
    status, detail, _ = statuses(zone(spf=f"bounce.example.com. 300 IN TXT {parts}") + extra)[
        "MAIL FROM SPF"
    ]
    assert status is CheckStatus.FAILED
    assert "11 DNS lookups" in detail


def test_a_wrong_mx_fails() -> None:
    found = statuses(zone(mx="bounce.example.com. 300 IN MX 10 mx.elsewhere.example."))
    status, detail, fix = found["MAIL FROM MX"]
    assert status is CheckStatus.FAILED
    assert "mx.elsewhere.example" in detail
    assert fix == "publish: bounce.example.com MX 10 feedback-smtp.eu-west-1.amazonses.com"


@pytest.mark.parametrize(
    ("dmarc", "says"),
    [
        (None, "no DMARC record at _dmarc.example.com"),
        ('_dmarc.example.com. 300 IN TXT "v=DMARC1; p=maybe"', "does not parse"),
        ('_dmarc.example.com. 300 IN TXT "p=none; v=DMARC1"', "no DMARC record"),
    ],
)
def test_a_broken_dmarc_record_fails(dmarc: str | None, says: str) -> None:
    status, detail, fix = statuses(zone(dmarc=dmarc))["DMARC"]
    assert status is CheckStatus.FAILED
    assert says in detail
    assert '_dmarc.example.com TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.com"' in fix


def test_strict_spf_alignment_with_a_mail_from_subdomain_only_aligns_through_dkim() -> None:
    dmarc = '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject; aspf=s"'
    status, detail, _ = statuses(zone(dmarc=dmarc))["DMARC"]
    assert status is CheckStatus.WARNING
    assert "through DKIM only" in detail


def test_without_a_custom_mail_from_spf_cannot_align() -> None:
    facts = DnsFacts("example.com", "example.com", "eu-west-1", TOKENS, mail_from=None)
    found = statuses(zone(), facts)
    assert found["MAIL FROM MX"][0] is CheckStatus.WARNING
    assert "--mail-from" in found["MAIL FROM SPF"][2]
    assert found["DMARC"][0] is CheckStatus.WARNING


def test_no_dns_answer_is_unknown_never_ok() -> None:
    with dns_server(zone()) as servers:
        pass  # stopped: nothing answers there any more
    checks = dns_checks(Dns(servers, timeout=0.3), FACTS)
    assert {c.status for c in checks} == {CheckStatus.UNKNOWN}


def test_nameservers_setting() -> None:
    assert parse_nameservers("127.0.0.1:5353, [::1]:53,192.0.2.1") == [
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("192.0.2.1", 53),
    ]
    with pytest.raises(ConfigurationError, match="dns_nameservers"):
        parse_nameservers("127.0.0.1:99999")


def published(sandbox: SandboxClient, identity: str, **changes: str | None) -> str:
    """The zone a careful owner of ``identity`` publishes: the sandbox's own DKIM tokens."""
    tokens = sandbox.sesv2.get_email_identity(EmailIdentity=identity)["DkimAttributes"]["Tokens"]
    records = {
        **{
            f"dkim{n}": f"{t}._domainkey.{identity}. 300 IN CNAME {t}.dkim.amazonses.com."
            for n, t in enumerate(tokens)
        },
        "mx": f"bounce.{identity}. 300 IN MX 10 feedback-smtp.{REGION}.amazonses.com.",
        "spf": f'bounce.{identity}. 300 IN TXT "v=spf1 include:amazonses.com ~all"',
        "dmarc": f'_dmarc.{identity}. 300 IN TXT "v=DMARC1; p=none"',
    }
    records.update({k: v or "" for k, v in changes.items()})
    return SOA + AMAZON_SPF + "\n".join(v for v in records.values() if v) + "\n"


def test_setup_mail_from_then_doctor_checks_dns_against_a_loopback_server(
    sandbox: SandboxClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    setup_run = runner.invoke(
        main,
        ["setup", "--identity", DOMAIN, "--mail-from", "bounce", "--mx-failure", "reject"],
        env={"COLUMNS": "200"},
    )
    assert setup_run.exit_code == 0, setup_run.output
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in setup_run.output.splitlines()
    ]
    assert ["MX", f"bounce.{DOMAIN}", f"10 feedback-smtp.{REGION}.amazonses.com"] in rows
    assert ["TXT", f"bounce.{DOMAIN}", '"v=spf1 include:amazonses.com ~all"'] in rows
    mail_from = sandbox.sesv2.get_email_identity(EmailIdentity=DOMAIN)["MailFromAttributes"]
    assert mail_from["MailFromDomain"] == f"bounce.{DOMAIN}"
    assert mail_from["BehaviorOnMxFailure"] == "REJECT_MESSAGE"
    again = runner.invoke(
        main, ["setup", "--identity", DOMAIN, "--mail-from", "bounce", "--mx-failure", "reject"]
    )
    assert "no changes" in again.output

    def dns_lines(zone_text: str) -> tuple[int, dict[str, dict[str, str]]]:
        with dns_server(zone_text) as servers, monkeypatch.context() as patch:
            patch.setenv("COURRIER_DNS_NAMESERVERS", servers)
            run = runner.invoke(main, ["doctor", "--no-probe", "--json"])
        lines = [json.loads(line) for line in run.output.splitlines()]
        return run.exit_code, {line["check"]: line for line in lines if line["check"] in DNS_NAMES}

    code, good = dns_lines(published(sandbox, DOMAIN))
    assert {name: line["status"] for name, line in good.items()} == dict.fromkeys(DNS_NAMES, "ok")
    assert code == 0
    code, broken = dns_lines(published(sandbox, DOMAIN, dmarc=None, spf=None))
    assert code == 1
    assert broken["DMARC"]["status"] == "failed"
    assert broken["MAIL FROM SPF"]["status"] == "failed"
    assert broken["MAIL FROM SPF"]["fix"] == (
        f'publish: bounce.{DOMAIN} TXT "v=spf1 include:amazonses.com ~all"'
    )
    for args in (["--no-dns"], []):  # against a stand-in, only when asked
        skipped = runner.invoke(main, ["doctor", "--no-probe", "--json", *args])
        checks = {json.loads(line)["check"] for line in skipped.output.splitlines()}
        assert not checks & set(DNS_NAMES), args


def test_a_mail_from_outside_the_identity_is_refused(aws: Aws) -> None:
    with pytest.raises(ConfigurationError, match="not a domain name"):
        setup(aws, DOMAIN, prefix="m", mail_from="bad domain")
    with pytest.raises(ConfigurationError, match="behaviour on MX failure"):
        setup(aws, DOMAIN, prefix="m", mail_from="bounce", mail_from_behavior="SOMETIMES")


def test_the_dns_checks_run_by_default_on_aws_only(
    sandbox: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from courrier.aws.clients import AwsConfig

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert Aws(AwsConfig(region="eu-west-1")).on_aws  # no call is made
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    assert not Aws(AwsConfig(region="eu-west-1")).on_aws
