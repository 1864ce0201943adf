"""SES's SMTP credentials: the SMTP password SES derives from an IAM secret access key.

Applications that send through SES's SMTP interface (Django's SMTP backend, Postfix relays,
mail plugins) log in with the access key id as the username and a password derived from the
secret access key for one region, by the version-4 algorithm AWS documents in
https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html: an HMAC-SHA256 chain over
a fixed date, the region, ``ses``, ``aws4_request`` and ``SendRawEmail``, prefixed with the
version byte 4 and base64-encoded. The password is only valid in the region it was derived
for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["smtp_endpoint", "smtp_password"]

#: The fixed inputs of AWS's derivation (smtp-credentials.html).
_DATE = "11111111"
_SERVICE = "ses"
_TERMINAL = "aws4_request"
_MESSAGE = "SendRawEmail"
_VERSION = 0x04
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def smtp_password(secret_access_key: str, region: str) -> str:
    """The SES SMTP password of ``secret_access_key`` in ``region``.

    Raises :class:`ValueError` for an empty key or a name that is not an AWS region.
    """
    if not secret_access_key:
        raise ValueError("the secret access key is empty")
    if not _REGION.fullmatch(region):
        raise ValueError(f"{region!r} is not an AWS region name (for example eu-west-1)")
    signature = _sign(f"AWS4{secret_access_key}".encode(), _DATE)
    for part in (region, _SERVICE, _TERMINAL, _MESSAGE):
        signature = _sign(signature, part)
    return base64.b64encode(bytes([_VERSION]) + signature).decode("ascii")


def smtp_endpoint(region: str) -> str:
    """SES's SMTP server for ``region`` (ports 587 and 25 with STARTTLS, 465 with TLS)."""
    return f"email-smtp.{region}.amazonaws.com"


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
