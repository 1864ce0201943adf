"""SES's SMTP credentials as the sandbox checks them: access key ids it knows, and the
version-4 SMTP password AWS derives from each secret for one region.

The derivation is AWS's documented one
(https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html): an HMAC-SHA256 chain keyed
by ``"AWS4" + secret`` over the fixed date ``11111111``, the region, ``ses``,
``aws4_request`` and ``SendRawEmail``, prefixed with the version byte 4 and base64-encoded.
courrier's ``courrier smtp-credentials`` computes the same password on the client side; the
sandbox keeps its own copy because it never imports courrier (a test pins the two equal).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from courrier_sandbox.accounts import DEFAULT_REGION

__all__ = ["DEFAULT_KEYS", "Login", "SmtpKeys", "default_keys", "smtp_password"]

_DATE = "11111111"
_CHAIN = ("ses", "aws4_request", "SendRawEmail")
_VERSION = 0x04

#: The key moto's documentation and the sandbox's pytest plugin use for offline tests.
DEFAULT_KEYS: Mapping[str, str] = {"testing": "testing"}


def smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password of ``secret_access_key`` in ``region``."""
    signature = _sign(f"AWS4{secret_access_key}".encode(), _DATE)
    for part in (region, *_CHAIN):
        signature = _sign(signature, part)
    return base64.b64encode(bytes([_VERSION]) + signature).decode("ascii")


def default_keys(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keys a sandbox knows unless told otherwise: ``testing``/``testing``, and the key
    of its own environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), the one a
    user exports for boto3 against it."""
    env = os.environ if environ is None else environ
    keys = dict(DEFAULT_KEYS)
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        keys[key_id] = secret
    return keys


@dataclass(frozen=True)
class Login:
    """Who logged in: the access key id, and the region its password was derived for."""

    access_key_id: str
    region: str


class SmtpKeys:
    """The access keys the SMTP interface accepts, and the regions it serves.

    SES has one SMTP endpoint per region, and a password works only at the endpoint of its
    region (smtp-credentials.html). The sandbox is one endpoint for every region, as its
    HTTP side is: the region a password was derived for is the region the message is sent
    in, as the credential scope of a signed API call names it.
    """

    def __init__(self, keys: Mapping[str, str], regions: Iterable[str]) -> None:
        self.keys = dict(keys)
        self.regions = sorted({*regions, DEFAULT_REGION})
        self._logins = {
            (key_id, smtp_password(secret, region)): Login(key_id, region)
            for key_id, secret in self.keys.items()
            for region in self.regions
        }

    def login(self, username: str, password: str) -> Login | None:
        """The login these credentials are, or None when SES would answer 535."""
        return self._logins.get((username, password))

    def password(self, access_key_id: str, region: str) -> str:
        """The SMTP password of a known key in ``region`` (what the sandbox prints)."""
        return smtp_password(self.keys[access_key_id], region)


def ses_regions() -> list[str]:
    """Every region of every partition where botocore knows an SES endpoint."""
    import botocore.session

    session = botocore.session.get_session()
    return [
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ses", partition_name=partition)
    ]


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
