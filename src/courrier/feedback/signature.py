"""SNS message signatures (facts §4.3), for envelopes that arrive through SQS or HTTPS.

Both signature versions sign the same canonical string: ``name\\nvalue\\n`` for a fixed list
of keys in byte order (``Subject`` only when present), with the decoded ``Message``.
Version 1 verifies with SHA1, version 2 with SHA256, RSA PKCS#1 v1.5. The certificate must
come over HTTPS from an SNS host (``sns.<region>.amazonaws.com``, or ``.com.cn``) and its path
must end in ``.pem``; fetched certificates are cached by URL.

Raw-delivery bodies carry no signature: trust there comes from the queue policy (§4.2).
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from courrier.errors import UntrustedSignature

__all__ = ["SignatureVerifier", "UntrustedSignature", "canonical_string"]

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{3,}\.amazonaws\.com(\.cn)?$")


def canonical_string(envelope: Mapping[str, Any]) -> bytes:
    keys = _NOTIFICATION_KEYS if envelope.get("Type") == "Notification" else _CONFIRMATION_KEYS
    parts = []
    for key in keys:
        value = envelope.get(key)
        if value is None:
            if key == "Subject":
                continue  # signed only when the publisher set one
            raise UntrustedSignature(f"the envelope has no {key}")
        parts.append(f"{key}\n{value}\n")
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as err:
        # SNS signs UTF-8 text: an unpaired surrogate cannot be part of a signed message.
        raise UntrustedSignature(f"the envelope is not valid Unicode: {err}") from err


def check_sns_url(url: str, what: str) -> None:
    """Refuse anything but ``https://sns.<region>.amazonaws.com[.cn]/...`` on port 443.

    The whole authority must be the SNS host: no user information and no other port. URL
    parsers disagree on ``https://evil\\@sns.../`` (urllib sees the SNS host, other clients
    connect to ``evil``), so any ``@`` or backslash is refused outright, as are control
    characters and spaces, which clients strip or split on differently.
    """
    if not url.isascii() or any(c in url for c in "\\ \t\r\n") or not url.isprintable():
        raise UntrustedSignature(f"{what} is not a plain URL: {url!r}")
    parsed = urlparse(url)
    authority = parsed.netloc
    if authority.endswith(":443"):
        authority = authority[: -len(":443")]
    if (
        parsed.scheme != "https"
        or "@" in parsed.netloc
        or not _SNS_HOST.fullmatch(authority.lower())
    ):
        raise UntrustedSignature(f"{what} not from an SNS host over HTTPS: {url!r}")


def check_certificate_url(url: str) -> None:
    check_sns_url(url, "signing certificate")
    if not urlparse(url).path.endswith(".pem"):
        raise UntrustedSignature(f"signing certificate URL is not a .pem: {url!r}")


#: Certificates kept per verifier, so that a long-running worker's memory stays bounded.
_MAX_CACHED_KEYS = 64


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(
        url, timeout=10
    ) as response:  # the URL was checked: https, an SNS host
        data: bytes = response.read()
        return data


class SignatureVerifier:
    """Verifies SNS envelopes; ``fetch`` gets a certificate's PEM bytes from its URL."""

    def __init__(self, fetch: Callable[[str], bytes] = _fetch) -> None:
        self._fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def _key(self, url: str) -> rsa.RSAPublicKey:
        check_certificate_url(url)
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None:
            return cached
        try:
            certificate = x509.load_pem_x509_certificate(self._fetch(url))
        except (OSError, ValueError) as err:
            raise UntrustedSignature(f"cannot load the signing certificate {url}: {err}") from err
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise UntrustedSignature(f"the signing certificate {url} has no RSA key")
        with self._lock:
            if len(self._keys) >= _MAX_CACHED_KEYS:
                # SNS signs with a handful of certificates; more means churn: start over.
                self._keys.clear()
            self._keys[url] = key
        return key

    def verify(self, envelope: Mapping[str, Any]) -> None:
        """Return if the envelope's signature verifies, else raise :class:`UntrustedSignature`."""
        version = envelope.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SNS signature version 1 is SHA1
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise UntrustedSignature(f"unknown SignatureVersion {version!r}")
        # Lambda-style records spell the URL SigningCertUrl (facts §4.1).
        url = envelope.get("SigningCertURL") or envelope.get("SigningCertUrl")
        signature = envelope.get("Signature")
        if not isinstance(url, str) or not isinstance(signature, str):
            raise UntrustedSignature("the envelope is not signed")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except ValueError as err:
            raise UntrustedSignature(f"the signature is not base64: {err}") from err
        try:
            self._key(url).verify(
                raw_signature, canonical_string(envelope), padding.PKCS1v15(), algorithm
            )
        except InvalidSignature as err:
            raise UntrustedSignature("the signature does not match the message") from err
