"""How keymint's keys are recognised at Bybit: the note `<prefix>:<key id>` every key carries,
written into the sub-account record before the key is created."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
NOTE = re.compile(r"^(?P<prefix>[A-Za-z0-9_-]{1,16}):(?P<key>[A-Za-z0-9]{24})$")


def new_key_id() -> str:
    """24 alphanumerics, like the random part of a Vault lease id; short enough for a note."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


def note_for(prefix: str, key: str) -> str:
    return f"{prefix}:{key}"


def key_of_note(note: str, prefixes: set[str] | frozenset[str]) -> str | None:
    """The key id a Bybit key's note names, when the note is keymint's; else None."""
    match = NOTE.fullmatch(note)
    if match is None or match.group("prefix") not in prefixes:
        return None
    return match.group("key")
