"""SNS envelopes signed as AWS signs them, with a certificate the sandbox serves itself.

AWS signs ``name\\nvalue\\n`` for a fixed list of keys in byte order (``Subject`` only when
the publisher set one), with SHA1 for SignatureVersion 1, a topic's default, and SHA256 for
version 2 (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
``SigningCertURL`` keeps AWS's form, ``https://sns.<region>.amazonaws.com/
SimpleNotificationService-<id>.pem``; the sandbox answers ``GET /<that path>`` with the PEM,
so a verifier pointed at the sandbox fetches the certificate there.
"""

from __future__ import annotations

import base64
import datetime
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

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
#: The path of the one certificate the sandbox signs with, as ``GET`` asks for it.
CERTIFICATE_PATH = re.compile(r"^/SimpleNotificationService-[0-9a-f]{32}\.pem$")


class _Signer:
    """One RSA key and its certificate per process, made on first use (a key takes a while)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._pem = b""
        self.name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"

    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key, self._pem = _key_and_certificate()
            return self._key

    def pem(self) -> bytes:
        self.key()
        return self._pem


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


_signer = _Signer()


def certificate_for(path: str) -> bytes | None:
    """The PEM served at ``path`` (``/SimpleNotificationService-<id>.pem``), if it is ours."""
    return _signer.pem() if path == f"/{_signer.name}" else None


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    keys = _NOTIFICATION_KEYS if envelope["Type"] == "Notification" else _CONFIRMATION_KEYS
    return "".join(
        f"{key}\n{envelope[key]}\n" for key in keys if envelope.get(key) is not None
    ).encode("utf-8")


def sign(envelope: dict[str, Any], *, region: str, version: str) -> None:
    """Add ``SignatureVersion``, ``Signature`` and ``SigningCertURL`` to ``envelope``."""
    algorithm: hashes.HashAlgorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
    signature = _signer.key().sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    envelope["SignatureVersion"] = "2" if version == "2" else "1"
    envelope["Signature"] = base64.b64encode(signature).decode("ascii")
    envelope["SigningCertURL"] = f"https://sns.{region}.amazonaws.com/{_signer.name}"


def timestamp() -> str:
    """Now as SNS writes it: ISO 8601 in UTC with milliseconds."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
