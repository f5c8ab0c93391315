"""Test certificates: a private CA, a server certificate and client certificates.

``make_pki(directory)`` writes PEM files with ``cryptography`` (a dev
dependency; the package never imports this module) and returns their paths.
The server certificate names ``localhost`` and ``127.0.0.1``; the client
certificate is signed by the same CA. ``other_ca=True`` also makes a second,
unrelated CA with its own client certificate, which a server trusting only
the first CA must refuse. Keys are small EC keys, so generation takes
milliseconds. Also usable from benches: ``python tests/certs.py DIR``.
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files written by :func:`make_pki`."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path | None = None
    other_client_cert: Path | None = None
    other_client_key: Path | None = None


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KeystoneDB tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + 30 * _ONE_DAY)
    )


def make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    common_name: str,
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = _key()
    builder = (
        _builder(_name(common_name), ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(
    path: Path, cert: x509.Certificate | None, key: ec.EllipticCurvePrivateKey | None
) -> Path:
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    path.write_bytes(data)
    return path


def make_pki(directory: Path, *, other_ca: bool = False) -> Pki:
    """Write ``ca.pem``, ``server.pem``/``server.key``, ``client.pem``/``client.key``
    (and ``other-ca.pem``, ``other-client.pem``/``.key``) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca("KeystoneDB test CA")
    server_cert, server_key = make_leaf(ca, "localhost", server=True)
    client_cert, client_key = make_leaf(ca, "test client", server=False)
    pki = Pki(
        ca=_write(directory / "ca.pem", ca[0], None),
        server_cert=_write(directory / "server.pem", server_cert, None),
        server_key=_write(directory / "server.key", None, server_key),
        client_cert=_write(directory / "client.pem", client_cert, None),
        client_key=_write(directory / "client.key", None, client_key),
    )
    if not other_ca:
        return pki
    other = make_ca("Some other CA")
    other_cert, other_key = make_leaf(other, "stranger", server=False)
    return replace(
        pki,
        other_ca=_write(directory / "other-ca.pem", other[0], None),
        other_client_cert=_write(directory / "other-client.pem", other_cert, None),
        other_client_key=_write(directory / "other-client.key", None, other_key),
    )


if __name__ == "__main__":  # pragma: no cover - a helper for benches and manual runs
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "certs")
    print(make_pki(out, other_ca=True))
