"""Deleting a key at Bybit and knowing it is gone: the one rule revocation and rotation share."""

from __future__ import annotations

from keymint.bybit.errors import InvalidRequestError, ServerError
from keymint.engine.ports import BybitKeys

DELETE_SUB_API = "/v5/user/delete-sub-api"


async def delete_and_confirm(bybit: BybitKeys, api_key: str, subaccount_uid: int) -> None:
    """Delete the key, then list the sub-account to confirm it is gone.

    A refusal for a key that is no longer listed means another replica or a person deleted it
    first: the goal is met. A key still listed after a delete that Bybit accepted raises.
    """
    try:
        await bybit.delete_sub_api_key(api_key)
    except InvalidRequestError:
        if await _listed(bybit, api_key, subaccount_uid):
            raise
        return
    if await _listed(bybit, api_key, subaccount_uid):
        raise ServerError(None, "the key is still listed after its deletion", DELETE_SUB_API, 200)


async def _listed(bybit: BybitKeys, api_key: str, subaccount_uid: int) -> bool:
    return any(k.api_key == api_key for k in await bybit.list_sub_api_keys(subaccount_uid))
