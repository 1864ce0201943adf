"""Every List* action pages as AWS does, and refuses bad page sizes, tokens and enum values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SandboxClient
from tests.sandbox.helpers import error_of as error

Lister = Callable[..., tuple[list[str], str | None]]


def v1_identities(sandbox: SandboxClient, **kw: Any) -> tuple[list[str], str | None]:
    answer = sandbox.ses.list_identities(**kw)
    return answer["Identities"], answer.get("NextToken")


def v1_sets(sandbox: SandboxClient, **kw: Any) -> tuple[list[str], str | None]:
    answer = sandbox.ses.list_configuration_sets(**kw)
    return [s["Name"] for s in answer["ConfigurationSets"]], answer.get("NextToken")


def v2_identities(sandbox: SandboxClient, **kw: Any) -> tuple[list[str], str | None]:
    answer = sandbox.sesv2.list_email_identities(**kw)
    return [i["IdentityName"] for i in answer["EmailIdentities"]], answer.get("NextToken")


def v2_sets(sandbox: SandboxClient, **kw: Any) -> tuple[list[str], str | None]:
    answer = sandbox.sesv2.list_configuration_sets(**kw)
    return answer["ConfigurationSets"], answer.get("NextToken")


def v2_suppressed(sandbox: SandboxClient, **kw: Any) -> tuple[list[str], str | None]:
    answer = sandbox.sesv2.list_suppressed_destinations(**kw)
    names = [s["EmailAddress"] for s in answer["SuppressedDestinationSummaries"]]
    return names, answer.get("NextToken")


def make_identities(sandbox: SandboxClient, count: int) -> list[str]:
    names = [f"user{n:04d}@example.com" for n in range(count)]
    for name in names:
        sandbox.ses.verify_email_identity(EmailAddress=name)
    return names


def make_sets(sandbox: SandboxClient, count: int) -> list[str]:
    names = [f"set-{n:04d}" for n in range(count)]
    for name in names:
        sandbox.sesv2.create_configuration_set(ConfigurationSetName=name)
    return names


def make_suppressed(sandbox: SandboxClient, count: int) -> list[str]:
    sandbox.set_account(production=True)
    names = [f"gone{n:04d}@example.org" for n in range(count)]
    for name in names:
        sandbox.sesv2.put_suppressed_destination(EmailAddress=name, Reason="BOUNCE")
    return names


CASES = [
    (v1_identities, make_identities, "MaxItems"),
    (v1_sets, make_sets, "MaxItems"),
    (v2_identities, make_identities, "PageSize"),
    (v2_sets, make_sets, "PageSize"),
    (v2_suppressed, make_suppressed, "PageSize"),
]
IDS = ["v1-identities", "v1-sets", "v2-identities", "v2-sets", "v2-suppressed"]


def every_page(sandbox: SandboxClient, lister: Lister, **kw: Any) -> list[list[str]]:
    pages = []
    token = None
    while True:
        found, token = lister(sandbox, **kw, **({"NextToken": token} if token else {}))
        pages.append(found)
        if token is None:
            return pages


@pytest.mark.parametrize(("lister", "make", "size"), CASES, ids=IDS)
def test_pages_cover_everything_once(
    sandbox: SandboxClient, lister: Lister, make: Callable[..., list[str]], size: str
) -> None:
    names = make(sandbox, 25)
    pages = every_page(sandbox, lister, **{size: 10})
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [name for p in pages for name in p] == sorted(names)


@pytest.mark.parametrize(("lister", "make", "size"), CASES, ids=IDS)
def test_default_page_size_is_100(
    sandbox: SandboxClient, lister: Lister, make: Callable[..., list[str]], size: str
) -> None:
    names = make(sandbox, 130)
    pages = every_page(sandbox, lister)
    assert [len(p) for p in pages] == [100, 30]
    assert [name for p in pages for name in p] == sorted(names)


def test_suppression_list_in_pages_with_changes_between_them(sandbox: SandboxClient) -> None:
    """A sync that reads the account list page by page while it changes."""
    names = make_suppressed(sandbox, 250)
    first, token = v2_suppressed(sandbox, PageSize=100)
    sandbox.sesv2.delete_suppressed_destination(EmailAddress=names[0])  # already read
    sandbox.sesv2.put_suppressed_destination(EmailAddress="zzz@example.org", Reason="COMPLAINT")
    rest = []
    while token:
        found, token = v2_suppressed(sandbox, PageSize=100, NextToken=token)
        rest.extend(found)
    assert first + rest == [*sorted(names), "zzz@example.org"]
    assert v2_suppressed(sandbox, Reasons=["COMPLAINT"]) == (["zzz@example.org"], None)


def test_boto3_paginators(sandbox: SandboxClient) -> None:
    names = make_identities(sandbox, 12)
    paginator = sandbox.ses.get_paginator("list_identities")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Identities"]) for p in pages] == [5, 5, 2]
    assert [n for p in pages for n in p["Identities"]] == names


@pytest.mark.parametrize("size", [0, 1001])
def test_v1_page_size_out_of_range(sandbox: SandboxClient, size: int) -> None:
    code, message, status = error(sandbox.ses.list_identities, MaxItems=size)
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        f"1 validation error detected: Value '{size}' at 'maxItems' failed to satisfy "
        "constraint: Member must have value between 1 and 1000"
    )


def test_v2_page_size_out_of_range(sandbox: SandboxClient) -> None:
    code, message, status = error(sandbox.sesv2.list_configuration_sets, PageSize=1001)
    assert (code, status) == ("BadRequestException", 400)
    assert "Member must have value between 1 and 1000" in message
    # ListEmailIdentities documents 0 as the least page size.
    assert sandbox.sesv2.list_email_identities(PageSize=0)["EmailIdentities"] == []


def test_v2_identities_page_size_0_is_the_default_size(sandbox: SandboxClient) -> None:
    """0 is allowed ("at least 0") and must not answer an empty page with a NextToken, which
    would spin a ``while NextToken`` loop forever."""
    names = make_identities(sandbox, 130)
    pages: list[list[str]] = []
    token = None
    while len(pages) < 5:
        found, token = v2_identities(sandbox, PageSize=0, **({"NextToken": token} if token else {}))
        pages.append(found)
        if token is None:
            break
    assert [len(p) for p in pages] == [100, 30]
    assert [name for p in pages for name in p] == names


def sets_token(s: SandboxClient) -> str | None:
    return v2_sets(s, PageSize=1)[1]


def identities_token(s: SandboxClient) -> str | None:
    return v1_identities(s, MaxItems=1)[1]


@pytest.mark.parametrize(
    ("call", "code", "foreign"),
    [
        (lambda s, t: s.ses.list_identities(NextToken=t), "InvalidParameterValue", sets_token),
        (
            lambda s, t: s.ses.list_configuration_sets(NextToken=t),
            "InvalidParameterValue",
            sets_token,  # the v2 list's token, not v1's
        ),
        (
            lambda s, t: s.sesv2.list_email_identities(NextToken=t),
            "BadRequestException",
            identities_token,
        ),
        (
            lambda s, t: s.sesv2.list_configuration_sets(NextToken=t),
            "BadRequestException",
            identities_token,
        ),
        (
            lambda s, t: s.sesv2.list_suppressed_destinations(NextToken=t),
            "InvalidNextTokenException",
            sets_token,
        ),
    ],
)
def test_invalid_next_token(
    sandbox: SandboxClient,
    call: Callable[..., Any],
    code: str,
    foreign: Callable[[SandboxClient], str | None],
) -> None:
    make_identities(sandbox, 3)
    make_sets(sandbox, 3)
    # A token of another list is as invalid as garbage.
    for token in ["garbage", "%%%", "e30=", foreign(sandbox)]:
        assert token is not None
        with pytest.raises(ClientError) as caught:
            call(sandbox, token)
        assert caught.value.response["Error"]["Code"] == code
        assert caught.value.response["Error"]["Message"].startswith("Invalid NextToken")


def test_list_identities_with_an_unknown_type_is_refused(sandbox: SandboxClient) -> None:
    make_identities(sandbox, 1)
    code, message, status = error(sandbox.ses.list_identities, IdentityType="Unknown")
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value 'Unknown' at 'identityType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [EmailAddress, Domain]"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.sesv2.list_suppressed_destinations(Reasons=["SPAM"]),
        lambda s: s.sesv2.put_suppressed_destination(EmailAddress="a@example.com", Reason="SPAM"),
        lambda s: s.sesv2.put_account_suppression_attributes(SuppressedReasons=["SPAM"]),
    ],
)
def test_v2_enum_values_are_checked(sandbox: SandboxClient, call: Callable[..., Any]) -> None:
    sandbox.set_account(production=True)
    code, message, status = error(call, s=sandbox)
    assert (code, status) == ("BadRequestException", 400)
    assert "Value 'SPAM'" in message
    assert "Member must satisfy enum value set: [BOUNCE, COMPLAINT]" in message
