"""SNS message signatures (docs/ses.md#sns-messages), for envelopes that arrive through SQS or
HTTPS.

Both signature versions sign the same canonical string: ``name\\nvalue\\n`` for a fixed list
of keys in byte order (``Subject`` only when present), with the decoded ``Message``.
Version 1 verifies with SHA1, version 2 with SHA256, RSA PKCS#1 v1.5. The certificate must
come over HTTPS from an SNS host (``sns.<region>.amazonaws.com``, or ``.com.cn``) and its path
must end in ``.pem``; fetched certificates are cached by URL. A certificate that cannot be
downloaded (network error, timeout, server error) is a passing failure,
:class:`~courrier.errors.CertificateUnavailable`, not a forgery: refusing the message would
lose it (SNS does not retry a 4xx answer; SQS moves it to the dead-letter queue).

Raw-delivery bodies carry no signature: trust there comes from the queue policy
(docs/ses.md#sns-messages).
"""

from __future__ import annotations

import base64
import http.client
import re
import threading
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from courrier.errors import CertificateUnavailable, UntrustedSignature

__all__ = [
    "CertificateUnavailable",
    "SignatureVerifier",
    "UntrustedSignature",
    "canonical_string",
    "fetch_certificate",
]

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
#: An SNS signing certificate is about 2 KB: anything far larger is not one.
_MAX_CERTIFICATE_BYTES = 64 * 1024
#: Seconds a certificate download may take before it counts as unavailable.
FETCH_TIMEOUT = 10


def fetch_certificate(url: str, *, timeout: float = FETCH_TIMEOUT) -> bytes:
    """The bytes at ``url``, the download failures sorted by what they mean.

    Raises :class:`~courrier.errors.CertificateUnavailable` when the host cannot be reached,
    times out, breaks the connection or answers a server error (5xx, 429): the message is
    as good as it was and may verify later. Raises :class:`UntrustedSignature` when the
    host answers that there is no such certificate (another 4xx) or sends far more than a
    certificate: what the envelope points at is not an SNS certificate.
    """
    try:
        # The URL was checked (https, an SNS host) before it came here.
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read(_MAX_CERTIFICATE_BYTES + 1)
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code == 429:
            raise CertificateUnavailable(
                f"the signing certificate host answered {err.code} for {url}"
            ) from err
        raise UntrustedSignature(f"no signing certificate at {url}: HTTP {err.code}") from err
    except (OSError, http.client.HTTPException) as err:
        raise CertificateUnavailable(
            f"the signing certificate {url} could not be downloaded: {err!r}"
        ) from err
    if len(data) > _MAX_CERTIFICATE_BYTES:
        raise UntrustedSignature(
            f"the signing certificate {url} is over {_MAX_CERTIFICATE_BYTES} bytes"
        )
    return data


class SignatureVerifier:
    """Verifies SNS envelopes; ``fetch`` gets a certificate's PEM bytes from its URL.

    A ``fetch`` that raises :class:`OSError` is treated like :func:`fetch_certificate`'s
    network errors: :class:`~courrier.errors.CertificateUnavailable`, never a refusal.
    Certificates are cached by URL (at most ``_MAX_CACHED_KEYS``, the least recently used
    go first); SNS rotates them rarely, so one download serves many messages, and
    concurrent misses for a URL wait for one download instead of each making their own.
    """

    def __init__(self, fetch: Callable[[str], bytes] = fetch_certificate) -> None:
        self._fetch = fetch
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()
        self._fetching = threading.Lock()

    def _cached(self, url: str) -> rsa.RSAPublicKey | None:
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
            return key

    def _key(self, url: str) -> rsa.RSAPublicKey:
        check_certificate_url(url)
        cached = self._cached(url)
        if cached is not None:
            return cached
        with self._fetching:
            cached = self._cached(url)  # another thread may have fetched it meanwhile
            if cached is not None:
                return cached
            key = self._load(url)
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > _MAX_CACHED_KEYS:
                self._keys.popitem(last=False)
        return key

    def _load(self, url: str) -> rsa.RSAPublicKey:
        try:
            pem = self._fetch(url)
        except CertificateUnavailable:
            raise
        except OSError as err:
            raise CertificateUnavailable(
                f"the signing certificate {url} could not be downloaded: {err}"
            ) from err
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as err:
            raise UntrustedSignature(f"cannot load the signing certificate {url}: {err}") from err
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise UntrustedSignature(f"the signing certificate {url} has no RSA key")
        return key

    def verify(self, envelope: Mapping[str, Any]) -> None:
        """Return if the envelope's signature verifies, else raise :class:`UntrustedSignature`.

        Raises :class:`~courrier.errors.CertificateUnavailable` when the certificate cannot
        be downloaded now: that is no verdict on the message.
        """
        version = envelope.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SNS signature version 1 is SHA1
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise UntrustedSignature(f"unknown SignatureVersion {version!r}")
        # Lambda-style records spell the URL SigningCertUrl (docs/ses.md#sns-messages).
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
