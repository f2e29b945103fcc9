"""Which sub-accounts are the master's. A role may name only those: it is checked at Bybit when
the role is written, so a typo is a 400 then, not a 502 at the first mint."""

from __future__ import annotations

from collections.abc import Iterable

from keymint.engine.ports import Bybit, BybitFailure
from keymint.engine.upstream import translate
from keymint.errors import BadRequest


class MasterSubaccounts:
    def __init__(self, bybit: Bybit) -> None:
        self._bybit = bybit

    async def require(self, uids: Iterable[int], *, field: str) -> None:
        """BadRequest naming `field` and the UIDs that are not the master's sub-accounts; if
        Bybit cannot be asked, the write is refused too (502/503)."""
        wanted = list(uids)
        try:
            known = await self._bybit.subaccount_uids()
        except BybitFailure as exc:
            raise translate(exc, doing=f"checking {field} at Bybit") from None
        unknown = [uid for uid in wanted if uid not in known]
        if unknown:
            listed = ", ".join(str(uid) for uid in unknown)
            raise BadRequest(f"{field}: {listed} not a sub-account of the master key's account")
