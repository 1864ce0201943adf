"""Identities: tags, default configuration sets, DKIM of addresses, display names, MAIL FROM."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REGION, SENDER, SandboxClient
from tests.sandbox.helpers import (
    ALL_EVENT_TYPES,
    CONFIG_SET,
    control_error,
    kinds,
    letters,
    quiet_events_route,
    send,
)
from tests.sandbox.helpers import error_of as error

ACCOUNT = "123456789012"
FRIEND = "friend@example.net"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:ses:{REGION}:{ACCOUNT}:{kind}/{name}"


# ------------------------------------------------------------------------------ tags


def test_tags_on_identities_sets_and_lists(sandbox: SandboxClient) -> None:
    v2 = sandbox.sesv2
    v2.create_email_identity(EmailIdentity=SENDER, Tags=[{"Key": "app", "Value": "billing"}])
    v2.create_configuration_set(ConfigurationSetName=CONFIG_SET)
    v2.create_contact_list(ContactListName="news")
    for resource in (
        arn("identity", SENDER),
        arn("configuration-set", CONFIG_SET),
        arn("contact-list", "news"),
    ):
        v2.tag_resource(ResourceArn=resource, Tags=[{"Key": "env", "Value": "test"}])
        v2.tag_resource(ResourceArn=resource, Tags=[{"Key": "env", "Value": "prod"}])
        tags = v2.list_tags_for_resource(ResourceArn=resource)["Tags"]
        assert {"Key": "env", "Value": "prod"} in tags
        v2.untag_resource(ResourceArn=resource, TagKeys=["env", "absent"])
        assert {"Key": "env", "Value": "prod"} not in v2.list_tags_for_resource(
            ResourceArn=resource
        )["Tags"]
    assert v2.get_email_identity(EmailIdentity=SENDER)["Tags"] == [
        {"Key": "app", "Value": "billing"}
    ]


@pytest.mark.parametrize(
    ("resource", "tags", "expected"),
    [
        (arn("identity", "nobody@example.com"), [], ("NotFoundException", 404)),
        (arn("template", "t"), [], ("BadRequestException", 400)),
        ("not-an-arn", [], ("BadRequestException", 400)),
        (f"arn:aws:ses:eu-west-1:{ACCOUNT}:identity/{SENDER}", [], ("NotFoundException", 404)),
        (arn("identity", SENDER), [{"Key": "aws:x", "Value": "1"}], ("BadRequestException", 400)),
        (arn("identity", SENDER), [{"Key": "k" * 129, "Value": "1"}], ("BadRequestException", 400)),
        (
            arn("identity", SENDER),
            [{"Key": f"k{n}", "Value": ""} for n in range(51)],
            ("BadRequestException", 400),
        ),
    ],
)
def test_tag_refusals(
    sandbox: SandboxClient, resource: str, tags: list[dict[str, str]], expected: tuple[str, int]
) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity=SENDER)
    call, kwargs = sandbox.sesv2.tag_resource, {"Tags": tags}
    if not tags:
        call, kwargs = sandbox.sesv2.list_tags_for_resource, {}
    code, _, status = error(call, ResourceArn=resource, **kwargs)
    assert (code, status) == expected


# ------------------------------------------------------------- default configuration set


def test_an_identity_s_configuration_set_applies_to_its_sends(sandbox: SandboxClient) -> None:
    pipeline = quiet_events_route(sandbox, ALL_EVENT_TYPES)
    assert error(
        sandbox.sesv2.create_email_identity, EmailIdentity="example.com", ConfigurationSetName="x"
    )[:2] == ("NotFoundException", "Configuration set <x> does not exist.")
    sandbox.sesv2.create_email_identity(
        EmailIdentity="example.com", ConfigurationSetName=CONFIG_SET
    )
    assert (
        sandbox.sesv2.get_email_identity(EmailIdentity="example.com")["ConfigurationSetName"]
        == CONFIG_SET
    )
    # A send from an address of the domain that names no set uses the domain's.
    send(sandbox, "v1", ["success@simulator.amazonses.com"])
    events = sandbox.feedback(pipeline.queue_url)
    assert kinds(events) == ["Delivery", "Send"]
    assert events[0]["mail"]["tags"]["ses:configuration-set"] == [CONFIG_SET]
    sandbox.sesv2.put_email_identity_configuration_set_attributes(EmailIdentity="example.com")
    assert "ConfigurationSetName" not in sandbox.sesv2.get_email_identity(
        EmailIdentity="example.com"
    )
    send(sandbox, "v1", ["success@simulator.amazonses.com"])
    assert sandbox.feedback(pipeline.queue_url) == []
    sandbox.sesv2.put_email_identity_configuration_set_attributes(
        EmailIdentity="example.com", ConfigurationSetName=CONFIG_SET
    )
    sandbox.sesv2.delete_configuration_set(ConfigurationSetName=CONFIG_SET)
    assert "ConfigurationSetName" not in sandbox.sesv2.get_email_identity(
        EmailIdentity="example.com"
    )


# ------------------------------------------------------------------------------ DKIM


def test_an_address_under_a_dkim_domain_reports_the_domain_s_dkim(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    v1 = sandbox.ses.get_identity_dkim_attributes(Identities=[SENDER])["DkimAttributes"]
    assert v1[SENDER] == {
        "DkimEnabled": False,
        "DkimVerificationStatus": "NotStarted",
        "DkimTokens": [],
    }
    tokens = sandbox.ses.verify_domain_dkim(Domain="example.com")["DkimTokens"]
    v1 = sandbox.ses.get_identity_dkim_attributes(Identities=[SENDER, "example.com"])
    assert v1["DkimAttributes"][SENDER] == {
        "DkimEnabled": True,
        "DkimVerificationStatus": "Success",
        "DkimTokens": tokens,
    }
    assert v1["DkimAttributes"]["example.com"] == v1["DkimAttributes"][SENDER]
    v2 = sandbox.sesv2.get_email_identity(EmailIdentity=SENDER)["DkimAttributes"]
    assert (v2["SigningEnabled"], v2["Status"], v2["Tokens"]) == (True, "SUCCESS", tokens)


# ----------------------------------------------------------------------- display names


@pytest.mark.parametrize(
    "name", ["Foo <foo@example.com>", '"Foo" foo@example.com', "foo @example.com", "@example.com"]
)
def test_an_identity_with_a_display_name_is_refused(sandbox: SandboxClient, name: str) -> None:
    text = (
        f"Invalid email address <{name}>: an identity is the address or domain alone, without "
        "a display name."
    )
    assert error(sandbox.ses.verify_email_identity, EmailAddress=name) == (
        "InvalidParameterValue",
        text,
        400,
    )
    assert error(sandbox.sesv2.create_email_identity, EmailIdentity=name) == (
        "BadRequestException",
        text,
        400,
    )
    assert sandbox.ses.list_identities()["Identities"] == []


def test_email_and_domain_actions_keep_to_their_kind(sandbox: SandboxClient) -> None:
    assert error(sandbox.ses.verify_email_identity, EmailAddress="example.com")[:2] == (
        "InvalidParameterValue",
        "Invalid email address <example.com>.",
    )
    assert error(sandbox.ses.verify_domain_identity, Domain=SENDER)[:2] == (
        "InvalidParameterValue",
        f"Invalid domain <{SENDER}>.",
    )


# --------------------------------------------------------------------- invalid names

LONG_DOMAIN = ".".join(["a" * 60] * 5) + ".com"  # 309 characters, each label valid
NOT_IDENTITIES = [
    ("a\x01@example.com", "Local address contains control or whitespace."),
    ("a@b@example.com", "the part before the @ is not a local part"),
    (f"{'x' * 65}@example.com", "the part before the @ is not a local part"),
    ("a@-bad-.com", "-bad-.com is not a domain name"),
    ("a@exa_mple.com", "exa_mple.com is not a domain name"),
    ("-x.com", "-x.com is not a domain name"),
    (f"{'l' * 64}.com", "is not a domain name"),
    (LONG_DOMAIN, "is not a domain name"),
    ("ex\x01ample.com", "contains control or whitespace"),
    ("bücher.example", "write a Unicode domain in Punycode"),
]


@pytest.mark.parametrize(("name", "why"), NOT_IDENTITIES)
def test_invalid_identities_are_refused(sandbox: SandboxClient, name: str, why: str) -> None:
    verify = (
        sandbox.ses.verify_email_identity if "@" in name else sandbox.ses.verify_domain_identity
    )
    member = "EmailAddress" if "@" in name else "Domain"
    code, message, status = error(verify, **{member: name})
    assert (code, status) == ("InvalidParameterValue", 400)
    assert why in message
    code, message, status = error(sandbox.sesv2.create_email_identity, EmailIdentity=name)
    assert (code, status) == ("BadRequestException", 400)
    assert why in message
    assert sandbox.ses.list_identities()["Identities"] == []


@pytest.mark.parametrize(
    "name",
    [
        "o'brien+tag@example.com",
        "a@b.c",
        f"{'x' * 64}@{'l' * 63}.example.com",
        ".".join(["a" * 62] * 4),  # 251 characters
        "xn--bcher-kva.example",
    ],
)
def test_valid_identities_are_taken(sandbox: SandboxClient, name: str) -> None:
    sandbox.sesv2.create_email_identity(EmailIdentity=name)
    assert sandbox.ses.list_identities()["Identities"] == [name]


# ------------------------------------------------------------------------- MAIL FROM


def mail_from_v1(sandbox: SandboxClient, identity: str) -> dict[str, Any]:
    found: dict[str, Any] = sandbox.ses.get_identity_mail_from_domain_attributes(
        Identities=[identity]
    )["MailFromDomainAttributes"][identity]
    return found


def test_mail_from_through_both_apis_and_the_page(sandbox: SandboxClient) -> None:
    sandbox.ses.verify_domain_identity(Domain="example.com")
    assert mail_from_v1(sandbox, "example.com") == {"BehaviorOnMXFailure": "UseDefaultValue"}
    sandbox.ses.set_identity_mail_from_domain(
        Identity="example.com",
        MailFromDomain="bounce.example.com",
        BehaviorOnMXFailure="RejectMessage",
    )
    assert mail_from_v1(sandbox, "example.com") == {
        "MailFromDomain": "bounce.example.com",
        "MailFromDomainStatus": "Pending",
        "BehaviorOnMXFailure": "RejectMessage",
    }
    page = sandbox.control("GET", "/identities/example.com/mail-from")
    assert page["records"] == [
        {
            "type": "MX",
            "name": "bounce.example.com",
            "value": f"10 feedback-smtp.{REGION}.amazonses.com",
        },
        {
            "type": "TXT",
            "name": "bounce.example.com",
            "value": '"v=spf1 include:amazonses.com ~all"',
        },
    ]
    verified = sandbox.control("POST", "/identities/example.com/mail-from/verify")
    assert verified["status"] == "Success"
    assert sandbox.sesv2.get_email_identity(EmailIdentity="example.com")["MailFromAttributes"] == {
        "MailFromDomain": "bounce.example.com",
        "MailFromDomainStatus": "SUCCESS",
        "BehaviorOnMxFailure": "REJECT_MESSAGE",
    }
    # v2 sets it, v1 reads it; a new domain is pending again.
    sandbox.sesv2.put_email_identity_mail_from_attributes(
        EmailIdentity="example.com", MailFromDomain="mail.example.com"
    )
    assert mail_from_v1(sandbox, "example.com") == {
        "MailFromDomain": "mail.example.com",
        "MailFromDomainStatus": "Pending",
        "BehaviorOnMXFailure": "UseDefaultValue",
    }
    sandbox.sesv2.put_email_identity_mail_from_attributes(EmailIdentity="example.com")
    assert mail_from_v1(sandbox, "example.com") == {"BehaviorOnMXFailure": "UseDefaultValue"}
    assert control_error(sandbox, "POST", "/identities/example.com/mail-from/verify")[0] == 404
    assert control_error(sandbox, "GET", "/identities/example.org/mail-from")[0] == 404


@pytest.mark.parametrize("domain", ["example.com", "bounce.example.org", "bounce..example.com"])
def test_the_mail_from_domain_must_be_a_subdomain(sandbox: SandboxClient, domain: str) -> None:
    sandbox.ses.verify_email_identity(EmailAddress=SENDER)
    text = f"Invalid MAIL FROM domain <{domain}>: it must be a subdomain of example.com."
    assert error(
        sandbox.ses.set_identity_mail_from_domain, Identity=SENDER, MailFromDomain=domain
    ) == ("InvalidParameterValue", text, 400)
    assert error(
        sandbox.sesv2.put_email_identity_mail_from_attributes,
        EmailIdentity=SENDER,
        MailFromDomain=domain,
    ) == ("BadRequestException", text, 400)
    assert (
        error(
            sandbox.sesv2.put_email_identity_mail_from_attributes,
            EmailIdentity="nobody@example.com",
            MailFromDomain="bounce.example.com",
        )[0]
        == "NotFoundException"
    )


def mail_from_domain(sandbox: SandboxClient, behavior: str) -> None:
    """example.com with bounce.example.com as its pending MAIL FROM domain; FRIEND verified."""
    sandbox.ses.verify_email_identity(EmailAddress=FRIEND)
    sandbox.ses.verify_domain_identity(Domain="example.com")
    sandbox.ses.set_identity_mail_from_domain(
        Identity="example.com", MailFromDomain="bounce.example.com", BehaviorOnMXFailure=behavior
    )


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_pending_mail_from_domain_and_sending(sandbox: SandboxClient, api: str) -> None:
    mail_from_domain(sandbox, "RejectMessage")
    expected = ("MailFromDomainNotVerifiedException", "Mail FROM domain is not verified.", 400)
    assert error(send, sandbox, api, [FRIEND]) == expected
    # With UseDefaultValue the message goes out from SES's own MAIL FROM domain.
    mail_from_domain(sandbox, "UseDefaultValue")
    first = send(sandbox, api, [FRIEND])
    sandbox.control("POST", "/identities/example.com/mail-from/verify")
    second = send(sandbox, api, [FRIEND])
    return_paths = {
        letter["ses_message_id"]: next(
            h["value"] for h in letter["headers"] if h["name"] == "Return-Path"
        )
        for letter in letters(sandbox, FRIEND)
    }
    assert return_paths == {
        first: f"<{first}@amazonses.com>",
        second: f"<{second}@bounce.example.com>",
    }


def test_bulk_entries_report_a_pending_mail_from_domain(sandbox: SandboxClient) -> None:
    mail_from_domain(sandbox, "RejectMessage")
    results = sandbox.sesv2.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={"Template": {"TemplateContent": {"Subject": "s", "Text": "t"}}},
        BulkEmailEntries=[{"Destination": {"ToAddresses": [FRIEND]}}],
    )["BulkEmailEntryResults"]
    assert results == [
        {"Status": "MAIL_FROM_DOMAIN_NOT_VERIFIED", "Error": "Mail FROM domain is not verified."}
    ]
