"""Bybit V5 request signing: the exact bytes sent are the bytes signed.

String to sign: ``timestamp + apiKey + recvWindow + payload``, where payload is the raw query
string of a GET (after the ``?``, empty when there is none) or the raw body of a POST.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

SIGN_TYPE = "2"
"""Every official sample sends "2" for HMAC and RSA alike; Bybit picks the scheme from the key."""

_PEM_MARKER = "-----BEGIN"


def encode_query(params: Mapping[str, object]) -> str:
    """Render GET parameters as the query string to sign and to send, unchanged, on the wire.

    Rule: keys sorted; ``None`` values dropped; each key and value percent-encoded as UTF-8,
    leaving only RFC 3986 unreserved characters and ``,`` literal. Commas stay literal because
    Bybit's comma-separated lists (``memberIds``) are sent that way by pybit and work; anything
    else a cursor may hold (``%``, ``/``, ``=``, ``&``, spaces) is encoded so the server cannot
    read the string differently from how it was signed.
    """
    return "&".join(
        f"{quote(key, safe=',')}={quote(_scalar(value), safe=',')}"
        for key, value in sorted(params.items())
        if value is not None
    )


def encode_body(body: Mapping[str, object]) -> bytes:
    """Serialise a POST body once; the caller signs and sends these same bytes."""
    return json.dumps(body, separators=(",", ":")).encode()


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Signer(Protocol):
    def sign(self, payload: bytes) -> str: ...


class HmacSigner:
    """HMAC-SHA256 keyed by the UTF-8 secret, lower-case hex (system-generated keys)."""

    __slots__ = ("_key",)

    def __init__(self, secret: SecretStr) -> None:
        self._key = secret.get_secret_value().encode()

    def sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner()"


class RsaSigner:
    """RSA-SHA256 PKCS#1 v1.5, base64 (self-generated keys: Bybit holds only the public key)."""

    __slots__ = ("_key",)

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key

    def sign(self, payload: bytes) -> str:
        signature = self._key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def __repr__(self) -> str:
        return "RsaSigner()"


def signer_for(secret: SecretStr) -> Signer:
    """An RSA signer when the credential is a PEM private key, else an HMAC signer."""
    text = secret.get_secret_value()
    if not text.lstrip().startswith(_PEM_MARKER):
        return HmacSigner(secret)
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Raised outside the handler: cryptography's exception must not travel as __context__.
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("api_secret is PEM but not an unencrypted RSA private key")
    return RsaSigner(key)


class Credentials:
    """An API key with its secret; the secret never appears in ``repr`` or ``str``."""

    __slots__ = ("_signer", "api_key")

    def __init__(self, api_key: str, api_secret: SecretStr) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key
        self._signer = signer_for(api_secret)

    def headers(self, timestamp_ms: int, recv_window_ms: int, payload: bytes) -> dict[str, str]:
        """The X-BAPI-* headers for one request whose signed payload is ``payload``."""
        timestamp, recv_window = str(timestamp_ms), str(recv_window_ms)
        prefix = f"{timestamp}{self.api_key}{recv_window}".encode()
        return {
            "X-BAPI-API-KEY": self.api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-SIGN": self._signer.sign(prefix + payload),
            "X-BAPI-SIGN-TYPE": SIGN_TYPE,
            "X-BAPI-RECV-WINDOW": recv_window,
        }

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key!r})"
