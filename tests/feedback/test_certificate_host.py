"""A signing certificate host that cannot be reached: a passing failure, never a forgery.

A real HTTP server on loopback stands in for ``sns.<region>.amazonaws.com`` (the verifier's
fetch is :func:`fetch_certificate` itself, pointed at it): refused connections, timeouts and
server errors keep the message; a missing certificate or a wrong signature refuse it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.test import Client

from courrier.aws.sqs import QueueMessage
from courrier.backoff import Backoff
from courrier.errors import CertificateUnavailable, UntrustedSignature
from courrier.feedback.http import make_app
from courrier.feedback.signature import SignatureVerifier, fetch_certificate
from courrier.feedback.worker import Worker
from courrier.store import Store
from tests.conftest import free_port
from tests.fakes import ListQueue
from tests.feedback.signing import CERT_URL, signed
from tests.feedback.test_decode import sample

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


class CertificateHost:
    """A loopback HTTP server answering every GET with ``status`` and ``body``."""

    def __init__(self, port: int, body: bytes, status: int = 200, stall: float = 0) -> None:
        self.port = port
        self.body = body
        self.status = status
        self.stall = stall
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._released = threading.Event()

    def start(self) -> None:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests += 1
                if host.stall:
                    host._released.wait(host.stall)
                self.send_response(host.status)
                self.send_header("Content-Length", str(len(host.body)))
                self.end_headers()
                self.wfile.write(host.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fetch(self, url: str) -> bytes:
        """:func:`fetch_certificate` with the SNS host replaced by this loopback one."""
        assert url == CERT_URL
        return fetch_certificate(f"http://127.0.0.1:{self.port}/cert.pem", timeout=1)


@contextmanager
def certificate_host(
    body: bytes, *, status: int = 200, stall: float = 0
) -> Iterator[CertificateHost]:
    host = CertificateHost(free_port(), body, status, stall)
    host.start()
    try:
        yield host
    finally:
        host.stop()


# ------------------------------------------------------------------ fetch_certificate


def test_a_host_that_refuses_connections_is_unavailable() -> None:
    with pytest.raises(CertificateUnavailable, match="could not be downloaded"):
        fetch_certificate(f"http://127.0.0.1:{free_port()}/cert.pem", timeout=1)


def test_a_host_that_does_not_answer_in_time_is_unavailable(certificate: bytes) -> None:
    with (
        certificate_host(certificate, stall=5) as host,
        pytest.raises(CertificateUnavailable, match="timed out"),
    ):
        fetch_certificate(f"http://127.0.0.1:{host.port}/cert.pem", timeout=0.3)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_unavailable(certificate: bytes, status: int) -> None:
    with (
        certificate_host(b"busy", status=status) as host,
        pytest.raises(CertificateUnavailable, match=str(status)),
    ):
        fetch_certificate(f"http://127.0.0.1:{host.port}/cert.pem")


@pytest.mark.parametrize("status", [403, 404])
def test_no_certificate_at_the_url_is_refused(status: int) -> None:
    with (
        certificate_host(b"no such key", status=status) as host,
        pytest.raises(UntrustedSignature, match=f"HTTP {status}"),
    ):
        fetch_certificate(f"http://127.0.0.1:{host.port}/cert.pem")


def test_a_huge_answer_is_not_a_certificate() -> None:
    with (
        certificate_host(b"x" * 200_000) as host,
        pytest.raises(UntrustedSignature, match="over"),
    ):
        fetch_certificate(f"http://127.0.0.1:{host.port}/cert.pem")


def test_an_unreadable_certificate_and_a_wrong_signature_are_refused(
    key: rsa.RSAPrivateKey, certificate: bytes
) -> None:
    with (
        certificate_host(b"not a certificate") as host,
        pytest.raises(UntrustedSignature, match="cannot load"),
    ):
        SignatureVerifier(fetch=host.fetch).verify(signed(key))
    with certificate_host(certificate) as host:
        forged = signed(key, Message=json.dumps(sample("S4")))
        with pytest.raises(UntrustedSignature, match="does not match"):
            SignatureVerifier(fetch=host.fetch).verify(forged)


def test_an_injected_fetch_raising_oserror_is_unavailable(key: rsa.RSAPrivateKey) -> None:
    def unreachable(url: str) -> bytes:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(CertificateUnavailable, match="connection refused"):
        SignatureVerifier(fetch=unreachable).verify(signed(key))


# ------------------------------------------------------------------ the cache


def test_one_download_serves_many_messages(key: rsa.RSAPrivateKey, certificate: bytes) -> None:
    with certificate_host(certificate) as host:
        verifier = SignatureVerifier(fetch=host.fetch)
        threads = [threading.Thread(target=verifier.verify, args=(signed(key),)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for _ in range(20):
            verifier.verify(signed(key))
    assert host.requests == 1


def test_the_cache_is_bounded_and_keeps_recent_certificates(
    key: rsa.RSAPrivateKey, certificate: bytes
) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return certificate

    def url(n: int) -> str:
        return f"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{n}.pem"

    verifier = SignatureVerifier(fetch=fetch)
    for n in range(64):
        verifier.verify(signed(key, fields={"SigningCertURL": url(n)}))
    verifier.verify(signed(key, fields={"SigningCertURL": url(0)}))  # recently used again
    verifier.verify(signed(key, fields={"SigningCertURL": url(64)}))  # evicts url(1)
    verifier.verify(signed(key, fields={"SigningCertURL": url(0)}))
    verifier.verify(signed(key, fields={"SigningCertURL": url(1)}))
    assert fetched == [url(n) for n in range(65)] + [url(1)]


# ------------------------------------------------------------------ worker and receive


def _messages(key: rsa.RSAPrivateKey, count: int) -> list[QueueMessage]:
    return [
        QueueMessage(
            f"m{n}",
            f"h{n}",
            json.dumps(signed(key, fields={"MessageId": f"sns-{n}"})),
            1,
        )
        for n in range(count)
    ]


def test_worker_keeps_messages_until_the_host_recovers(
    key: rsa.RSAPrivateKey, certificate: bytes, store: Store
) -> None:
    host = CertificateHost(free_port(), certificate)  # not started: connections refused
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            host.start()  # the host comes back after three failed downloads

    queue = ListQueue(_messages(key, 5))
    worker = Worker(
        queue,
        store,
        verifier=SignatureVerifier(fetch=host.fetch),
        certificate_backoff=Backoff(attempts=100, base=0.01, cap=0.01),
        sleep=sleep,
    )
    try:
        worker.run(until_idle=True)
    finally:
        host.stop()
    assert sorted(queue.deleted) == [f"m{n}" for n in range(5)]
    assert worker.stats.rejected == 0
    assert worker.stats.certificate_retries == 3
    assert worker.stats.events == 1  # five SNS messages, one bounce: the rest are duplicates
    assert host.requests == 1
    assert [s.address for s in store.suppressions()] == ["gone@example.net"]


def test_concurrent_worker_keeps_messages_until_the_host_recovers(
    key: rsa.RSAPrivateKey, certificate: bytes, store: Store
) -> None:
    host = CertificateHost(free_port(), certificate)
    failures = threading.Semaphore(0)

    def sleep(seconds: float) -> None:
        failures.release()

    def recover() -> None:
        for _ in range(6):
            failures.acquire()
        host.start()

    recovery = threading.Thread(target=recover, daemon=True)
    recovery.start()
    queue = ListQueue(_messages(key, 40))
    worker = Worker(
        queue,
        store,
        verifier=SignatureVerifier(fetch=host.fetch),
        certificate_backoff=Backoff(attempts=1000, base=0.01, cap=0.01),
        sleep=sleep,
        concurrency=4,
    )
    try:
        worker.run(until_idle=True)
    finally:
        host.stop()
    recovery.join(5)
    assert sorted(queue.deleted) == sorted(f"m{n}" for n in range(40))
    assert worker.stats.rejected == 0
    assert worker.stats.certificate_retries >= 6


def test_worker_stopping_while_the_host_is_down_leaves_the_message_unrefused(
    key: rsa.RSAPrivateKey, store: Store
) -> None:
    host = CertificateHost(free_port(), b"")  # never started
    queue = ListQueue(_messages(key, 1))
    worker: Worker = Worker(
        queue,
        store,
        verifier=SignatureVerifier(fetch=host.fetch),
        certificate_backoff=Backoff(attempts=100, base=0.01, cap=0.01),
        sleep=lambda seconds: worker.stop(),
    )
    worker.run(until_idle=True)
    assert queue.deleted == []
    assert worker.stats.rejected == 0
    assert store.suppressions() == []


def test_receive_answers_503_until_the_host_recovers(
    key: rsa.RSAPrivateKey, certificate: bytes, store: Store
) -> None:
    host = CertificateHost(free_port(), certificate)
    client = Client(
        make_app(store, verifier=SignatureVerifier(fetch=host.fetch), allowed_topics=[TOPIC])
    )
    body = json.dumps(signed(key))
    refused = client.post("/", data=body)
    assert refused.status_code == 503  # SNS retries a 5xx, never a 4xx
    assert json.loads(refused.get_data())["detail"] == "signing certificate unavailable"
    host.start()
    try:
        retried = client.post("/", data=body)
    finally:
        host.stop()
    assert retried.status_code == 200, retried.get_data()
    assert [s.address for s in store.suppressions()] == ["gone@example.net"]
