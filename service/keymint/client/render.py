"""Credentials as `exec` and `agent` hand them over: environment variables, or a file written so
that a reader never sees half of it."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from keymint.client.protocol import Credentials

Format = Literal["env", "json"]

# What a variable may name: the scalar fields of a minted key.
FIELDS = ("api_key", "api_secret", "subaccount_uid", "lease_id")
DEFAULT_ENV = {"BYBIT_API_KEY": "api_key", "BYBIT_API_SECRET": "api_secret"}
# Always given, whatever the mapping: the lease is not a secret, and a child needs its id to
# renew or revoke it.
LEASE_ID_VAR = "KEYMINT_LEASE_ID"


class BadMapping(ValueError):
    """An `--env NAME=field` that cannot be honoured; the message names it."""


def env_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """`NAME=field` pairs as {NAME: field}; none given means the default mapping."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, field = pair.partition("=")
        if not sep or not name.isidentifier():
            raise BadMapping(f"--env {pair!r}: expected NAME=field")
        if field not in FIELDS:
            raise BadMapping(f"--env {pair!r}: field must be one of {', '.join(FIELDS)}")
        mapping[name] = field
    return mapping or dict(DEFAULT_ENV)


def environment(credentials: Credentials, mapping: dict[str, str]) -> dict[str, str]:
    values = {name: str(getattr(credentials, field)) for name, field in mapping.items()}
    return {**values, LEASE_ID_VAR: credentials.lease_id}


def render(credentials: Credentials, fmt: Format, mapping: dict[str, str]) -> str:
    if fmt == "json":
        return json.dumps(dataclasses.asdict(credentials), indent=2) + "\n"
    # Quoted for a shell's `.`; Bybit keys need no quoting, so env-file readers see them plain.
    env = environment(credentials, mapping)
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items())


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text`, mode 0600: written to a temporary file in the same directory
    (so the rename cannot cross file systems) and renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 already; said again so a umask or a later change cannot widen it.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
