"""TLS for both ports from TF Serving's ``SSLConfig`` (``config.ssl_config.SslSettings``).

``grpc_server_credentials`` serves the gRPC port (``--ssl_config_file``);
``rest_ssl_context`` serves the REST port (``--rest_ssl_config_file``, same format). With
``client_verify: true`` both require a client certificate signed by ``custom_ca``
(mutual TLS): gRPC refuses the handshake, and so does the REST port.

The SSLConfig carries PEM contents, but ``ssl.SSLContext.load_cert_chain`` reads files:
the key and certificate are written to a private temporary directory (mode 0700), loaded,
and deleted before this function returns. A malformed PEM is an ``ssl.SSLError`` here, at
start-up, before the port opens.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import grpc

from config.ssl_config import SslSettings


def grpc_server_credentials(settings: SslSettings) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(settings.server_key.encode(), settings.server_cert.encode())],
        root_certificates=settings.custom_ca.encode() or None,
        require_client_auth=settings.client_verify,
    )


def rest_ssl_context(settings: SslSettings) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or later, client certificates as ``client_verify`` says."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="aioserving-tls-") as directory:
        key, cert = Path(directory) / "key.pem", Path(directory) / "cert.pem"
        key.touch(mode=0o600)
        key.write_text(settings.server_key)
        cert.write_text(settings.server_cert)
        context.load_cert_chain(certfile=cert, keyfile=key)
    if settings.custom_ca:
        context.load_verify_locations(cadata=settings.custom_ca)
    if settings.client_verify:
        context.verify_mode = ssl.CERT_REQUIRED
    elif settings.custom_ca:
        context.verify_mode = ssl.CERT_OPTIONAL  # asked for and checked, not required (as gRPC)
    else:
        context.verify_mode = ssl.CERT_NONE
    return context
