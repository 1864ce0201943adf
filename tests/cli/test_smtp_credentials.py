"""``courrier smtp-credentials``: SES's SMTP password, checked against botocore's own SigV4."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from courrier.aws.smtp import smtp_password
from courrier.cli import main

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "il-central-1"]


class _Request:
    """What SigV4Auth.signature reads of a request: the time it is signed at."""

    # AWS's SMTP derivation signs at the fixed date 11111111 (smtp-credentials.html).
    context: dict[str, Any] = {"timestamp": "11111111T000000Z"}  # noqa: RUF012


def botocore_password(secret: str, region: str) -> str:
    """The same derivation by botocore's SigV4 signer: its signing key for ses in the region,
    signing "SendRawEmail", with SES's version byte in front."""
    signer = SigV4Auth(Credentials("AKID", secret), "ses", region)
    signature = bytes.fromhex(signer.signature("SendRawEmail", _Request()))  # type: ignore[arg-type]
    return base64.b64encode(b"\x04" + signature).decode()


@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
    region=st.sampled_from(REGIONS),
)
def test_the_password_is_the_documented_derivation(secret: str, region: str) -> None:
    assert smtp_password(secret, region) == botocore_password(secret, region)


def test_the_password_depends_on_the_region() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    password = smtp_password(secret, "eu-west-1")
    assert password != smtp_password(secret, "us-east-1")
    decoded = base64.b64decode(password)
    assert (len(decoded), decoded[0]) == (33, 4)


@pytest.mark.parametrize("region", ["", "EU-WEST-1", "eu_west_1", "mars", "eu-west-1\n"])
def test_a_name_that_is_no_region_is_refused(region: str) -> None:
    with pytest.raises(ValueError, match="region"):
        smtp_password("secret", region)


def test_the_command_prints_server_username_and_password() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    result = CliRunner().invoke(main, ["smtp-credentials", "--region", "eu-west-1"], env=env)
    assert result.exit_code == 0, result.output
    assert "email-smtp.eu-west-1.amazonaws.com" in result.output
    assert "AKIDEXAMPLE" in result.output
    assert smtp_password("secret", "eu-west-1") in result.output


def test_the_command_asks_for_the_secret_without_echoing_it() -> None:
    result = CliRunner().invoke(
        main,
        ["smtp-credentials", "--region", "us-east-1", "--json"],
        input="typed-secret\n",
        env={"AWS_SECRET_ACCESS_KEY": None, "AWS_ACCESS_KEY_ID": None},
    )
    assert result.exit_code == 0, result.output
    assert "typed-secret" not in result.output
    printed = json.loads(result.output[result.output.index("{") :])
    assert printed["password"] == smtp_password("typed-secret", "us-east-1")
    assert printed["server"] == "email-smtp.us-east-1.amazonaws.com"


def test_a_bad_region_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        main, ["smtp-credentials", "--region", "mars", "--secret-access-key", "s"]
    )
    assert result.exit_code == 2
    assert "not an AWS region name" in result.output
