"""Self-generated (RSA) API keys: loading the registered public key and checking signatures."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """A PEM public key, or the bare base64 body the Bybit web form takes; ValueError if neither."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(stripped.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(stripped, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not an RSA public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


_cached_key = lru_cache(maxsize=256)(load_public_key)


def verify(public_key_text: str, signature_b64: str, message: bytes) -> bool:
    """Bybit's RSA scheme: base64 of an RSASSA-PKCS1-v1_5 SHA-256 signature."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        _cached_key(public_key_text).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, binascii.Error, InvalidSignature):
        return False
    return True
