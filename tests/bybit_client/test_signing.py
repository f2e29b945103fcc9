"""Signing follows Bybit's documented string-to-sign, computed here independently with hmac."""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from keymint.bybit.signing import Credentials, encode_body, encode_query

GUIDE_TS = 1658384314791
GUIDE_KEY = "XXXXXXXXXX"
GUIDE_QUERY = "category=option&symbol=BTC-29JUL22-25000-C"
SECRET = "our-own-test-secret-0123456789abcdef"


def test_guide_example_signature_matches_a_hand_computed_hmac() -> None:
    origin = f"{GUIDE_TS}{GUIDE_KEY}5000{GUIDE_QUERY}"
    assert origin == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    expected = hmac.new(SECRET.encode(), origin.encode(), hashlib.sha256).hexdigest()

    query = encode_query({"symbol": "BTC-29JUL22-25000-C", "category": "option"})
    headers = Credentials(GUIDE_KEY, SecretStr(SECRET)).headers(GUIDE_TS, 5000, query.encode())

    assert query == GUIDE_QUERY
    assert headers == {
        "X-BAPI-API-KEY": GUIDE_KEY,
        "X-BAPI-TIMESTAMP": str(GUIDE_TS),
        "X-BAPI-SIGN": expected,
        "X-BAPI-SIGN-TYPE": "2",
        "X-BAPI-RECV-WINDOW": "5000",
    }


def test_post_signs_the_compact_body_bytes() -> None:
    body = encode_body({"subuid": 53888000, "note": "rot-1", "ips": "1.2.3.4,5.6.7.8"})
    assert body == b'{"subuid":53888000,"note":"rot-1","ips":"1.2.3.4,5.6.7.8"}'
    expected = hmac.new(SECRET.encode(), f"{GUIDE_TS}k5000".encode() + body, hashlib.sha256)

    headers = Credentials("k", SecretStr(SECRET)).headers(GUIDE_TS, 5000, body)

    assert headers["X-BAPI-SIGN"] == expected.hexdigest()
    assert json.loads(body)["subuid"] == 53888000


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({}, ""),
        ({"b": 1, "a": "x"}, "a=x&b=1"),
        ({"cursor": None, "limit": 20}, "limit=20"),
        ({"memberIds": "1,2,3"}, "memberIds=1,2,3"),
        ({"cursor": "a b%/=&+?"}, "cursor=a%20b%25%2F%3D%26%2B%3F"),
        ({"note": "é~_.-"}, "note=%C3%A9~_.-"),
        ({"flag": True}, "flag=true"),
    ],
)
def test_query_encoding_rule(params: dict[str, object], query: str) -> None:
    assert encode_query(params) == query


def test_rsa_credential_signs_pkcs1v15_sha256_base64() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    sign = Credentials("rsakey", SecretStr(pem)).headers(GUIDE_TS, 5000, b"{}")["X-BAPI-SIGN"]

    private.public_key().verify(
        base64.b64decode(sign),
        f"{GUIDE_TS}rsakey5000{{}}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_a_broken_pem_is_refused_without_echoing_it() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nnot-a-key-at-all\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="not an unencrypted RSA private key") as info:
        Credentials("k", SecretStr(pem))
    assert "not-a-key-at-all" not in str(info.value)
    assert info.value.__context__ is None


def test_credentials_repr_shows_the_key_not_the_secret() -> None:
    credentials = Credentials("visible-key", SecretStr(SECRET))
    assert repr(credentials) == "Credentials(api_key='visible-key')"
    assert SECRET not in repr(credentials)
