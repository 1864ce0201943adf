"""The TLS context of the SMTP interface: a certificate given on the command line, or one
generated at start and signed by itself.

SES's SMTP endpoints accept no unencrypted session (STARTTLS or TLS from the first byte,
https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html), so the sandbox needs a
certificate even offline. The generated one names ``localhost``, ``127.0.0.1``, ``::1`` and
the listening host; clients that verify certificates (Django's SMTP backend does) trust it
through its PEM file, :attr:`ServerTls.certificate_file`.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from courrier_sandbox.errors import SandboxError

__all__ = ["ServerTls", "generated", "given"]


@dataclass
class ServerTls:
    """A server-side TLS context and the PEM file of its certificate."""

    context: ssl.SSLContext
    certificate_file: Path
    #: The folder of a generated certificate, removed by :meth:`close`.
    _folder: Path | None = None

    def close(self) -> None:
        """Remove a generated certificate's files."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def given(certificate: str, key: str) -> ServerTls:
    """``--tls-cert`` and ``--tls-key``: PEM files of a certificate (chain) and its key."""
    return ServerTls(_context(Path(certificate), Path(key)), Path(certificate))


def generated(host: str) -> ServerTls:
    """A new key and a self-signed certificate valid for a year, for ``host`` and loopback."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "courrier sandbox SMTP")])
    dns = {"localhost"}
    ips = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    try:
        ips.add(ipaddress.ip_address(host))
    except ValueError:
        if host:
            dns.add(host)
    alternative = [*(x509.DNSName(d) for d in sorted(dns)), *(x509.IPAddress(i) for i in ips)]
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    # A self-signed certificate that is its own authority: clients that verify strictly
    # (Python 3.13's VERIFY_X509_STRICT) want the CA flag, key usage and key identifiers.
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="courrier-sandbox-tls-"))
    certificate_file = folder / "certificate.pem"
    key_file = folder / "key.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ServerTls(_context(certificate_file, key_file), certificate_file, folder)


def _context(certificate: Path, key: Path) -> ssl.SSLContext:
    # SES's endpoints speak TLS 1.2 and later (smtp-connect.html).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as err:
        raise SandboxError(
            f"cannot use the TLS certificate {certificate} with key {key}: {err}"
        ) from err
    return context
