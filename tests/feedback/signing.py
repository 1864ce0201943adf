"""Signing SNS envelopes for tests, with a key and certificate made for them."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from courrier.feedback.signature import canonical_string
from tests.feedback.test_decode import sample

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc123.pem"


class Fetcher:
    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.pem


def signed(
    key: rsa.RSAPrivateKey,
    *,
    version: str = "2",
    subject: str | None = None,
    fields: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A signed SNS envelope: ``fields`` are set before signing, ``changes`` after."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "5f3c9a1e-2b7d-5c41-9e08-7a6b5c4d3e2f",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-feedback",
        "Message": json.dumps(sample("S1")) + "\n",
        "Timestamp": "2024-05-15T02:40:11.412Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope.update(fields or {})
    envelope.update(fields or {})
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical_string(envelope), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode()
    envelope.update(changes)
    return envelope
