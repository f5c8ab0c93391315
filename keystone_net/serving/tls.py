"""TLS for gRPC over HTTP/2: the ``ssl.SSLContext`` of a server and of a client.

Both sides speak TLS 1.2 or later, offer only the ALPN protocol ``h2``
(gRPC is HTTP/2; RFC 7540 section 3.3) and use the AEAD ciphers HTTP/2
allows (section 9.2.2), without TLS compression (section 9.2.1).

* :func:`server_context` loads the server's certificate chain and key. With
  ``client_ca_file`` it asks every client for a certificate and refuses the
  handshake of one without a certificate signed by that CA (mutual TLS);
  the ``keystone-server --tls-client-ca`` flag.
* :func:`client_context` trusts ``ca_file`` (a private CA, or a self-signed
  server certificate) or, by default, the system's CAs, checks that the
  server certificate names the host connected to, and presents
  ``cert_file``/``key_file`` to a server that asks for a client certificate.

Files are PEM. A file that is missing or does not hold what it should
raises ``OSError`` (``FileNotFoundError``, or ``ssl.SSLError``) with the
path in the message, so a server's command line reports it like any other
file it cannot open.
"""

from __future__ import annotations

import errno
import os
import ssl
from typing import Final

__all__ = ["ALPN_PROTOCOLS", "CIPHERS", "client_context", "server_context"]

#: The one application protocol offered and accepted (gRPC is HTTP/2 only).
ALPN_PROTOCOLS: Final = ("h2",)
#: TLS 1.2 cipher suites acceptable to HTTP/2 (TLS 1.3 suites are all acceptable).
CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"

StrPath = str | os.PathLike[str]


def server_context(
    cert_file: StrPath, key_file: StrPath, client_ca_file: StrPath | None = None
) -> ssl.SSLContext:
    """The context of a TLS server with this certificate (chain) and private key.

    With ``client_ca_file``, clients must present a certificate signed by one
    of the CAs in it (``verify_mode`` is ``CERT_REQUIRED``); without it, no
    client certificate is asked for.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx)
    _load_chain(ctx, cert_file, key_file, "server certificate")
    if client_ca_file is not None:
        _load_ca(ctx, client_ca_file, "client CA")
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(
    ca_file: StrPath | None = None,
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
) -> ssl.SSLContext:
    """The context of a TLS client: verify the server, optionally present a certificate.

    The server certificate must be signed by a CA of ``ca_file`` (default:
    the system's CAs) and name the host connected to (a DNS name or an IP
    address in its subject alternative names). ``cert_file`` (and its
    ``key_file``, if the key is not in the same file) is the client
    certificate for servers that require one.
    """
    if key_file is not None and cert_file is None:
        raise ValueError("key_file needs cert_file: the client certificate the key belongs to")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    _harden(ctx)
    if ca_file is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_ca(ctx, ca_file, "CA")
    if cert_file is not None:
        _load_chain(ctx, cert_file, key_file, "client certificate")
    return ctx


def _harden(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.set_ciphers(CIPHERS)
    ctx.set_alpn_protocols(list(ALPN_PROTOCOLS))


def _check_file(path: StrPath, what: str) -> str:
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise FileNotFoundError(errno.ENOENT, f"the {what} file does not exist", name)
    return name


def _load_chain(ctx: ssl.SSLContext, cert: StrPath, key: StrPath | None, what: str) -> None:
    cert_name = _check_file(cert, what)
    key_name = None if key is None else _check_file(key, f"{what} key")
    try:
        # An encrypted key gets an empty password (so a failure, never a prompt).
        ctx.load_cert_chain(cert_name, key_name, password=b"")
    except ssl.SSLError as exc:
        files = cert_name if key_name is None else f"{cert_name} and {key_name}"
        raise ssl.SSLError(
            f"cannot load the {what} from {files}: {exc.reason or exc} "
            "(need a PEM certificate chain and its matching unencrypted PEM private key)"
        ) from None


def _load_ca(ctx: ssl.SSLContext, path: StrPath, what: str) -> None:
    name = _check_file(path, what)
    try:
        ctx.load_verify_locations(cafile=name)
    except ssl.SSLError as exc:
        raise ssl.SSLError(
            f"cannot load the {what} certificates from {name}: {exc.reason or exc} "
            "(need PEM certificates)"
        ) from None
