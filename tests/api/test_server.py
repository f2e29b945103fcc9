"""`keymint serve`: TLS by default, certificates rotated live, no clear text by accident."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keymint.devstack import ManagedProcess, free_port
from keymint.own_vault_policy import create_keymint_token

KEYMINT = str(Path(sys.executable).parent / "keymint")


@pytest.fixture
def keymint_token(openbao: ManagedProcess) -> str:
    root = hvac.Client(url=openbao.url, token=openbao.extra["root_token"])
    return create_keymint_token(root)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class CA:
    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("test ca"))
            .issuer_name(_name("test ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cert_path: Path, key_path: Path) -> int:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("keymint"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return serial


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [KEYMINT, "serve"], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def _served_serial(port: int, ca: CA) -> int:
    context = ssl.create_default_context(cafile=str(ca.path))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_https_and_certificate_rotation_without_restart(
    openbao: ManagedProcess, keymint_token: str, tmp_path: Path
) -> None:
    ca = CA(tmp_path)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = ca.issue(cert, key)
    port = free_port()
    proc = _serve(
        {
            "KEYMINT_HOST": "127.0.0.1",
            "KEYMINT_PORT": str(port),
            "KEYMINT_TLS_CERT_FILE": str(cert),
            "KEYMINT_TLS_KEY_FILE": str(key),
            "KEYMINT_TLS_RELOAD_S": "0.2",
            "KEYMINT_VAULT_ADDR": openbao.url,
            "KEYMINT_VAULT_TOKEN": keymint_token,
        },
        tmp_path / "serve.log",
    )
    trust = ssl.create_default_context(cafile=str(ca.path))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "keymint serve did not come up"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert _served_serial(port, ca) == first
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz")

        second = ca.issue(cert, key)
        deadline = time.monotonic() + 10
        while _served_serial(port, ca) != second:
            assert time.monotonic() < deadline, "certificate was not reloaded"
            time.sleep(0.1)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log = (tmp_path / "serve.log").read_text()
    assert "tls_certificate_reloaded" in log
    assert keymint_token not in log


def test_plain_http_on_a_network_address_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [KEYMINT, "serve"],
        env={**os.environ, "KEYMINT_HOST": "0.0.0.0", "KEYMINT_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "refusing plain HTTP on 0.0.0.0" in result.stderr


def test_an_invalid_roles_file_stops_start_up_with_the_reason(
    openbao: ManagedProcess, keymint_token: str, tmp_path: Path
) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n  thief:\n    subaccounts: [1]\n    ips: ['1.2.3.4']\n"
        "    permissions: {Wallet: [Withdraw]}\n"
    )
    result = subprocess.run(
        [KEYMINT, "serve"],
        env={
            **os.environ,
            "KEYMINT_PORT": str(free_port()),
            "KEYMINT_ROLES_FILE": str(roles),
            "KEYMINT_VAULT_ADDR": openbao.url,
            "KEYMINT_VAULT_TOKEN": keymint_token,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3  # uvicorn's start-up failure status
    output = result.stdout + result.stderr
    assert f"{roles}: role 'thief': permissions: Wallet: 'Withdraw'" in output
    assert "startup_failed" in output
    assert keymint_token not in output
