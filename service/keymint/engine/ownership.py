"""Whether a key keymint reserved a slot for is owned by a record, and how keymint's keys are
recognised at Bybit. Reconciliation and the start-up replay decide orphans with this."""

from __future__ import annotations

import re

from keymint.engine.capacity import Slot, SlotKind
from keymint.engine.ports import KV
from keymint.engine.store import lease_path, pool_path, static_creds_path

# `<note_prefix>:<24-character key>`: what every key keymint creates carries as its note.
NOTE = re.compile(r"^(?P<prefix>[A-Za-z0-9_-]{1,16}):(?P<key>[A-Za-z0-9]{24})$")


def note_key(note: str, prefixes: set[str]) -> str | None:
    """The slot key named by a Bybit key's note, when the note is keymint's; else None."""
    match = NOTE.fullmatch(note)
    if match is None or match.group("prefix") not in prefixes:
        return None
    return match.group("key")


async def owner_exists(kv: KV, key: str, slot: Slot) -> bool:
    match slot.kind:
        case SlotKind.LEASE:
            return await kv.read(lease_path(slot.role, key)) is not None
        case SlotKind.POOL:
            return await kv.read(pool_path(slot.role, key)) is not None
        case SlotKind.STATIC:
            found = await kv.read(static_creds_path(slot.role))
            if found is None:
                return False
            held = [found.data.get("current") or {}, found.data.get("previous") or {}]
            return any(isinstance(h, dict) and h.get("key") == key for h in held)
