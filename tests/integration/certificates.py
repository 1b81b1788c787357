"""Certificates made by the tests themselves: a CA, a server certificate, a client certificate.

``make_pki(directory)`` writes PEM files and returns their contents. The server
certificate is valid for ``localhost`` and ``127.0.0.1``; the client certificate is
signed by the same CA (for mutual TLS). Keys are EC P-256, valid for one day.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Pki:
    ca_cert: str
    server_key: str
    server_cert: str
    client_key: str
    client_cert: str
    client_key_file: Path
    client_cert_file: Path
    ca_file: Path

    def ssl_config(self, path: Path, *, client_verify: bool) -> Path:
        """An SSLConfig text file (PEM contents inline, as TF Serving reads it)."""
        lines = [
            f"server_key: {json.dumps(self.server_key)}",
            f"server_cert: {json.dumps(self.server_cert)}",
        ]
        if client_verify:
            lines += [f"custom_ca: {json.dumps(self.ca_cert)}", "client_verify: true"]
        path.write_text("\n".join(lines) + "\n")
        return path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    elif server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_cert = _issue("aioserving test CA", ca_key, _name("aioserving test CA"), ca_key, ca=True)
    server_cert = _issue("localhost", server_key, ca_cert.subject, ca_key, server=True)
    client_cert = _issue("test client", client_key, ca_cert.subject, ca_key)

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "ca.pem": pem(ca_cert),
        "client-key.pem": _pem_key(client_key),
        "client-cert.pem": pem(client_cert),
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    return Pki(
        ca_cert=pem(ca_cert),
        server_key=_pem_key(server_key),
        server_cert=pem(server_cert),
        client_key=_pem_key(client_key),
        client_cert=pem(client_cert),
        client_key_file=directory / "client-key.pem",
        client_cert_file=directory / "client-cert.pem",
        ca_file=directory / "ca.pem",
    )
