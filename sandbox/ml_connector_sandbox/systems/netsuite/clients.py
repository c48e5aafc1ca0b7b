"""OAuth 2.0 M2M mappings of the NetSuite stand-in: client id + certificate id (``kid``) + public key.

A mapping is what Setup > Integration > Manage Authentication > OAuth 2.0 Client Credentials (M2M)
Setup creates: an integration's client id, an uploaded public certificate, and the Certificate ID
NetSuite assigns, used as the JWT ``kid`` (contract B2). Keys are checked as B2 says: RSA of at least
3072 bits (setting ``min_rsa_bits``) or EC on P-256/P-384/P-521.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ["ClientKeyError", "ClientRegistry", "M2MClient", "generate_client", "load_public_key"]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_EC_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class ClientKeyError(ValueError):
    """A certificate or key cannot be registered (unparsable, wrong type, too small)."""


@dataclass(frozen=True)
class M2MClient:
    """One client-credentials mapping."""

    client_id: str
    certificate_id: str
    public_key: PublicKey
    certificate_pem: str
    private_key_pem: str | None = None
    """Only for the mapping the stand-in generated itself (handed out by the admin API)."""

    @property
    def key_type(self) -> str:
        """``RSA`` or ``EC``."""
        return "RSA" if isinstance(self.public_key, rsa.RSAPublicKey) else "EC"

    @property
    def algorithms(self) -> list[str]:
        """Assertion algorithms this key can verify (B2: PS256/384/512 for RSA, ES* for EC)."""
        if isinstance(self.public_key, rsa.RSAPublicKey):
            return ["PS256", "PS384", "PS512"]
        return ["ES256", "ES384", "ES512"]

    def view(self) -> dict[str, Any]:
        """JSON view for the admin API (never the private key)."""
        return {
            "client_id": self.client_id,
            "certificate_id": self.certificate_id,
            "key_type": self.key_type,
            "certificate": self.certificate_pem,
        }


def load_public_key(pem: str, *, min_rsa_bits: int) -> PublicKey:
    """The public key of a PEM certificate (``BEGIN CERTIFICATE``) or public key.

    :raises ClientKeyError: unparsable, not RSA/EC, RSA under ``min_rsa_bits``, or another curve.
    """
    data = pem.encode()
    try:
        if b"BEGIN CERTIFICATE" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ClientKeyError(f"not a PEM certificate or public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < min_rsa_bits:
            raise ClientKeyError(f"RSA keys must have at least {min_rsa_bits} bits, got {key.key_size}")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_CURVES:
            raise ClientKeyError(f"EC keys must be on P-256, P-384 or P-521, got {key.curve.name}")
        return key
    raise ClientKeyError(f"unsupported key type {type(key).__name__}: use RSA or EC")


def _certificate(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, common_name: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))  # B2: at most two years
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def generate_client(client_id: str, certificate_id: str, *, key_type: str = "RSA") -> M2MClient:
    """A new mapping with a freshly generated key pair and a self-signed certificate.

    :param key_type: ``RSA`` (3072 bits, for PS256) or ``EC`` (P-256, for ES256).
    """
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type.upper() == "EC":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return M2MClient(
        client_id=client_id,
        certificate_id=certificate_id,
        public_key=private.public_key(),
        certificate_pem=_certificate(private, f"ml-connector sandbox {certificate_id}"),
        private_key_pem=private_pem,
    )


def new_client_id() -> str:
    """A client id shaped like NetSuite's (64 hex characters, B2 sample)."""
    return secrets.token_hex(32)


class ClientRegistry:
    """The mappings, by certificate id (the ``kid``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_kid: dict[str, M2MClient] = {}

    def add(self, client: M2MClient) -> None:
        """Register (or replace) the mapping of ``client.certificate_id``."""
        with self._lock:
            self._by_kid[client.certificate_id] = client

    def remove(self, certificate_id: str) -> bool:
        """Forget a mapping; returns whether it existed."""
        with self._lock:
            return self._by_kid.pop(certificate_id, None) is not None

    def get(self, certificate_id: str) -> M2MClient | None:
        """The mapping of a certificate id."""
        with self._lock:
            return self._by_kid.get(certificate_id)

    def all(self) -> list[M2MClient]:
        """Every mapping."""
        with self._lock:
            return list(self._by_kid.values())

    def replace_all(self, clients: list[M2MClient]) -> None:
        """Keep exactly ``clients``."""
        with self._lock:
            self._by_kid = {client.certificate_id: client for client in clients}
