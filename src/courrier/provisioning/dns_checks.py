"""``courrier doctor``'s DNS checks: what Gmail, Yahoo and Microsoft check of a bulk sender.

- DKIM: the three CNAMEs ``TOKEN._domainkey.DOMAIN -> TOKEN.dkim.amazonses.com`` of Easy DKIM
  (https://docs.aws.amazon.com/ses/latest/dg/send-email-authentication-dkim-easy.html).
- The custom MAIL FROM domain: ``MX 10 feedback-smtp.REGION.amazonses.com`` and SPF
  ``v=spf1 include:amazonses.com ~all``
  (https://docs.aws.amazon.com/ses/latest/dg/mail-from.html), within SPF's limit of 10 DNS
  lookups (RFC 7208 section 4.6.4).
- DMARC: ``_dmarc.DOMAIN`` exists and parses (RFC 7489), and its alignment holds for the From
  domain through DKIM (Easy DKIM signs as the identity's domain) or SPF (the MAIL FROM
  domain) (https://docs.aws.amazon.com/ses/latest/dg/send-email-authentication-dmarc.html).

Every answer comes from :class:`Dns` (dnspython), pointed by the ``dns_nameservers`` setting
at given servers or else at the system's; a lookup that fails is ``unknown``, never ``ok``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from courrier.errors import ConfigurationError
from courrier.provisioning.checks import Check, CheckStatus
from courrier.settings import parse_nameservers

__all__ = [
    "DNS_CHECKS",
    "Dns",
    "DnsFacts",
    "LookupFailed",
    "dns_checks",
    "parse_nameservers",
    "spf_lookups",
]

OK, WARNING, FAILED, UNKNOWN = (
    CheckStatus.OK,
    CheckStatus.WARNING,
    CheckStatus.FAILED,
    CheckStatus.UNKNOWN,
)
DKIM, MX, SPF, DMARC = "DKIM records", "MAIL FROM MX", "MAIL FROM SPF", "DMARC"
#: The DNS checks, in the order doctor reports them.
DNS_CHECKS = (DKIM, MX, SPF, DMARC)
#: RFC 7208 section 4.6.4: more than 10 DNS-querying terms is a permanent error.
SPF_LOOKUP_LIMIT = 10
#: The mechanisms that cost a lookup besides include (RFC 7208 section 4.6.4).
_SPF_LOOKUP_MECHANISMS = frozenset({"a", "mx", "ptr", "exists"})


class LookupFailed(Exception):
    """A DNS query got no answer (timeout, SERVFAIL, no server): not the same as "absent"."""


class Dns:
    """TXT, CNAME and MX lookups with dnspython; ``nameservers`` as the ``dns_nameservers``
    setting gives them (None: the system's resolver configuration)."""

    def __init__(
        self, nameservers: str | Sequence[str] | None = None, *, timeout: float = 5.0
    ) -> None:
        import dns.nameserver
        import dns.resolver

        if nameservers:
            servers = parse_nameservers(nameservers)
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in servers
            ]
        else:
            try:
                self._resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration as err:
                raise ConfigurationError(
                    "no DNS resolver is configured: set dns_nameservers"
                ) from err
        self._resolver.lifetime = timeout

    def _answer(self, name: str, kind: str) -> list[object]:
        import dns.exception
        import dns.resolver

        try:
            return list(self._resolver.resolve(name, kind, raise_on_no_answer=False) or [])
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.DNSException, OSError) as err:
            raise LookupFailed(f"{kind} {name}: {type(err).__name__}: {err}") from err

    def txt(self, name: str) -> list[str]:
        """The TXT records of ``name``, each one string (its parts joined)."""
        return [
            b"".join(getattr(r, "strings", ())).decode("utf-8", "replace")
            for r in self._answer(name, "TXT")
        ]

    def cname(self, name: str) -> str | None:
        """Where the CNAME of ``name`` points (lower case, no trailing dot), if it has one."""
        for record in self._answer(name, "CNAME"):
            return _plain(str(getattr(record, "target", "")))
        return None

    def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, exchange) of each MX record of ``name``."""
        return [
            (int(getattr(r, "preference", 0)), _plain(str(getattr(r, "exchange", ""))))
            for r in self._answer(name, "MX")
        ]


def _plain(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class DnsFacts:
    """What SES says of the identity, against which DNS is checked."""

    #: The verified domain (the identity, or an address identity's domain).
    domain: str
    #: The domain of the From address (the sender), often the identity's.
    from_domain: str
    region: str
    dkim_tokens: tuple[str, ...] = ()
    #: The custom MAIL FROM domain, None when SES's own (amazonses.com) is used.
    mail_from: str | None = None


def dns_checks(dns: Dns, facts: DnsFacts) -> list[Check]:
    """The four DNS checks (see the module), each ok / warning / failed / unknown with the
    exact record to publish."""
    dkim = _guarded(DKIM, lambda: _dkim(dns, facts))
    mx = _guarded(MX, lambda: _mx(dns, facts))
    spf = _guarded(SPF, lambda: _spf(dns, facts))
    dmarc = _guarded(DMARC, lambda: _dmarc(dns, facts, dkim, mx, spf))
    return [dkim, mx, spf, dmarc]


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except LookupFailed as err:
        return Check(name, UNKNOWN, f"DNS did not answer: {err}", "retry, or check dns_nameservers")


# ---------------------------------------------------------------------------- DKIM


def _dkim(dns: Dns, facts: DnsFacts) -> Check:
    if not facts.dkim_tokens:
        return Check(
            DKIM,
            UNKNOWN,
            f"SES has no Easy DKIM tokens for {facts.domain}",
            f"courrier setup --identity {facts.domain} (a domain identity) prints them",
        )
    wrong: list[str] = []
    for token in facts.dkim_tokens:
        name, wanted = f"{token}._domainkey.{facts.domain}", f"{token}.dkim.amazonses.com"
        found = dns.cname(name)
        if found != wanted:
            wrong.append(f"{name} CNAME {wanted}")
    if wrong:
        return Check(
            DKIM,
            FAILED,
            f"{len(wrong)} of {len(facts.dkim_tokens)} DKIM CNAMEs missing or wrong",
            "publish: " + "; ".join(wrong),
        )
    return Check(DKIM, OK, f"{len(facts.dkim_tokens)} CNAMEs point at SES's DKIM keys")


# ---------------------------------------------------------------------- MAIL FROM


def _no_mail_from(name: str, facts: DnsFacts) -> Check:
    return Check(
        name,
        WARNING,
        f"{facts.domain} sends with SES's MAIL FROM (amazonses.com): SPF cannot align with "
        f"{facts.from_domain} for DMARC",
        f"courrier setup --identity {facts.domain} --mail-from bounce",
    )


def _mx(dns: Dns, facts: DnsFacts) -> Check:
    if facts.mail_from is None:
        return _no_mail_from(MX, facts)
    wanted = f"feedback-smtp.{facts.region}.amazonses.com"
    record = f"{facts.mail_from} MX 10 {wanted}"
    found = dns.mx(facts.mail_from)
    if not found:
        return Check(MX, FAILED, f"{facts.mail_from} has no MX record", f"publish: {record}")
    if wanted not in {exchange for _, exchange in found}:
        shown = ", ".join(f"{p} {e}" for p, e in found)
        return Check(
            MX, FAILED, f"{facts.mail_from} MX is {shown}, not {wanted}", f"publish: {record}"
        )
    return Check(MX, OK, f"{facts.mail_from} MX {wanted}")


def _spf_records(records: Sequence[str]) -> list[str]:
    return [r for r in records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


def spf_lookups(dns: Dns, domain: str, *, depth: int = 0) -> int:
    """The DNS lookups evaluating ``domain``'s SPF record costs (RFC 7208 section 4.6.4):
    each include, a, mx, ptr, exists and redirect, and those of the records they include."""
    records = _spf_records(dns.txt(domain))
    if not records or depth > SPF_LOOKUP_LIMIT:
        return 0
    count = 0
    for given in records[0].split()[1:]:
        term = given.lower().lstrip("+-~?")
        if term.startswith("redirect="):
            count += 1 + spf_lookups(dns, term.partition("=")[2], depth=depth + 1)
        elif term.startswith("include:"):
            count += 1 + spf_lookups(dns, term.partition(":")[2], depth=depth + 1)
        elif re.split(r"[:/]", term, maxsplit=1)[0] in _SPF_LOOKUP_MECHANISMS:
            count += 1
    return count


def _spf(dns: Dns, facts: DnsFacts) -> Check:
    if facts.mail_from is None:
        return _no_mail_from(SPF, facts)
    record = f'{facts.mail_from} TXT "v=spf1 include:amazonses.com ~all"'
    records = _spf_records(dns.txt(facts.mail_from))
    if not records:
        return Check(SPF, FAILED, f"{facts.mail_from} has no SPF record", f"publish: {record}")
    if len(records) > 1:
        return Check(
            SPF,
            FAILED,
            f"{facts.mail_from} has {len(records)} SPF records (RFC 7208: a permanent error)",
            f"keep one: {record}",
        )
    terms = [t.lower() for t in records[0].split()]
    if "include:amazonses.com" not in terms:
        return Check(
            SPF,
            FAILED,
            f"{facts.mail_from} SPF does not include amazonses.com: {records[0]}",
            f"publish: {record}",
        )
    lookups = spf_lookups(dns, facts.mail_from)
    if lookups > SPF_LOOKUP_LIMIT:
        return Check(
            SPF,
            FAILED,
            f"{facts.mail_from} SPF needs {lookups} DNS lookups, over the limit of "
            f"{SPF_LOOKUP_LIMIT} (RFC 7208 4.6.4): receivers fail it",
            f"publish: {record}",
        )
    return Check(SPF, OK, f"{facts.mail_from} SPF includes amazonses.com ({lookups} lookups)")


# -------------------------------------------------------------------------- DMARC

_DMARC_TAG = re.compile(r"^([a-z]+)\s*=\s*(.*)$")


def _dmarc_tags(record: str) -> dict[str, str] | None:
    """RFC 7489 tags of a DMARC record; None when it does not parse."""
    tags: dict[str, str] = {}
    for part in (p.strip() for p in record.split(";")):
        if not part:
            continue
        match = _DMARC_TAG.match(part.lower())
        if match is None:
            return None
        tags[match.group(1)] = match.group(2).strip()
    if tags.get("v") != "dmarc1" or record.split(";", maxsplit=1)[0].strip().lower() != "v=dmarc1":
        return None
    if tags.get("p") not in ("none", "quarantine", "reject"):
        return None
    if tags.get("adkim", "r") not in ("r", "s") or tags.get("aspf", "r") not in ("r", "s"):
        return None
    return tags


def _aligned(author: str, other: str, mode: str) -> bool:
    """RFC 7489 3.1: strict is the same name; relaxed is the same organizational domain,
    approximated here as one name under (or equal to) the other (no public suffix list)."""
    if mode == "s":
        return author == other
    return author == other or author.endswith(f".{other}") or other.endswith(f".{author}")


def _dmarc(dns: Dns, facts: DnsFacts, dkim: Check, mx: Check, spf: Check) -> Check:
    wanted = f'_dmarc.{facts.from_domain} TXT "v=DMARC1; p=none; rua=mailto:dmarc@{facts.domain}"'
    names = [f"_dmarc.{facts.from_domain}"]
    if facts.domain != facts.from_domain:
        names.append(f"_dmarc.{facts.domain}")  # the organizational domain's policy
    for name in names:
        records = [r for r in dns.txt(name) if r.lower().startswith("v=dmarc1")]
        if records:
            break
    else:
        return Check(DMARC, FAILED, f"no DMARC record at {names[0]}", f"publish: {wanted}")
    if len(records) > 1:
        return Check(
            DMARC, FAILED, f"{name} has {len(records)} DMARC records", f"keep one: {wanted}"
        )
    tags = _dmarc_tags(records[0])
    if tags is None:
        return Check(DMARC, FAILED, f"{name} does not parse: {records[0]}", f"publish: {wanted}")
    # Easy DKIM signs as the identity's domain; SPF is checked for the MAIL FROM domain.
    through_dkim = dkim.status is OK and _aligned(
        facts.from_domain, facts.domain, tags.get("adkim", "r")
    )
    through_spf = (
        facts.mail_from is not None
        and mx.status is OK
        and spf.status is OK
        and _aligned(facts.from_domain, facts.mail_from, tags.get("aspf", "r"))
    )
    policy = f"p={tags['p']}"
    if through_dkim and through_spf:
        return Check(DMARC, OK, f"{name}: {policy}, aligned through DKIM and SPF")
    if through_dkim or through_spf:
        missing = "SPF (MAIL FROM)" if through_dkim else "DKIM"
        return Check(
            DMARC,
            WARNING,
            f"{name}: {policy}, aligned through {'DKIM' if through_dkim else 'SPF'} only; "
            f"{missing} does not align",
            "fix the MAIL FROM checks above"
            if through_dkim
            else "fix the DKIM check above (adkim=r unless From is the identity's domain)",
        )
    return Check(
        DMARC,
        FAILED,
        f"{name}: {policy}, but neither DKIM nor SPF aligns with {facts.from_domain}: "
        "receivers fail DMARC",
        "fix the DKIM and MAIL FROM checks above",
    )
