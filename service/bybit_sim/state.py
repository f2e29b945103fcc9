"""Accounts and API keys: the simulator's whole persistent state."""

from __future__ import annotations

import secrets
import string
from dataclasses import asdict, dataclass, field
from typing import Any

from bybit_sim.permissions import Permissions

KEY_ALPHABET = string.ascii_letters + string.digits
API_KEY_LENGTH = 18  # DOC: system-generated keys are 18 alphanumeric characters
SECRET_LENGTH = 36  # DOC: secrets are 36
NORMAL_STATUS = 1
FROZEN_STATUS = 4
STATE_VERSION = 1


def _random_token(length: int) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


@dataclass
class Account:
    uid: int
    username: str
    member_type: int
    status: int
    parent_uid: int  # 0 for a master account, as query-api's parentUid "0"
    remark: str
    created_ms: int

    @property
    def is_master(self) -> bool:
        return self.parent_uid == 0

    @property
    def frozen(self) -> bool:
        return self.status == FROZEN_STATUS


@dataclass
class ApiKey:
    id: str
    api_key: str
    uid: int
    secret: str  # "" for a self-generated RSA key: Bybit only ever sees its public half
    rsa_public_key: str
    note: str
    read_only: int
    ips: list[str]
    permissions: Permissions
    created_ms: int
    # The 90-day expiry counts from here: creation, or the last edit that restarts it.
    expiry_base_ms: int

    @property
    def flag(self) -> str:
        return "rsa" if self.rsa_public_key else "hmac"


@dataclass
class NewKey:
    """What a caller decides about a key it creates; the store adds ids and secrets."""

    uid: int
    read_only: int
    ips: list[str]
    permissions: Permissions
    note: str = ""
    rsa_public_key: str = ""


@dataclass
class SimState:
    accounts: dict[int, Account] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    # Usernames are unique forever, including those of deleted sub-accounts.
    usernames: set[str] = field(default_factory=set)
    dirty: bool = False

    def _new_uid(self) -> int:
        while True:
            uid = 100_000_000 + secrets.randbelow(900_000_000)
            if uid not in self.accounts:
                return uid

    def _new_key_id(self) -> str:
        taken = {key.id for key in self.keys.values()}
        while True:
            key_id = str(10_000_000 + secrets.randbelow(90_000_000))
            if key_id not in taken:
                return key_id

    def add_account(
        self, username: str, member_type: int, parent_uid: int, remark: str, now_ms: int
    ) -> Account:
        account = Account(
            uid=self._new_uid(),
            username=username,
            member_type=member_type,
            status=NORMAL_STATUS,
            parent_uid=parent_uid,
            remark=remark,
            created_ms=now_ms,
        )
        self.accounts[account.uid] = account
        self.usernames.add(username)
        self.dirty = True
        return account

    def remove_account(self, uid: int) -> None:
        for key in self.keys_of(uid):
            del self.keys[key.api_key]
        del self.accounts[uid]
        self.dirty = True

    def subs_of(self, master_uid: int) -> list[Account]:
        return [a for a in self.accounts.values() if a.parent_uid == master_uid]

    def sub_of(self, master_uid: int, uid: int) -> Account | None:
        account = self.accounts.get(uid)
        return account if account is not None and account.parent_uid == master_uid else None

    def keys_of(self, uid: int) -> list[ApiKey]:
        return [k for k in self.keys.values() if k.uid == uid]

    def add_key(self, new: NewKey, now_ms: int) -> ApiKey:
        api_key = _random_token(API_KEY_LENGTH)
        while api_key in self.keys:
            api_key = _random_token(API_KEY_LENGTH)
        key = ApiKey(
            id=self._new_key_id(),
            api_key=api_key,
            uid=new.uid,
            secret="" if new.rsa_public_key else _random_token(SECRET_LENGTH),
            rsa_public_key=new.rsa_public_key,
            note=new.note,
            read_only=new.read_only,
            ips=new.ips,
            permissions=new.permissions,
            created_ms=now_ms,
            expiry_base_ms=now_ms,
        )
        self.keys[key.api_key] = key
        self.dirty = True
        return key

    def remove_key(self, api_key: str) -> None:
        del self.keys[api_key]
        self.dirty = True

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "accounts": [asdict(a) for a in self.accounts.values()],
            "keys": [asdict(k) for k in self.keys.values()],
            "usernames": sorted(self.usernames),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state file version {data.get('version')!r}")
        accounts = [Account(**item) for item in data["accounts"]]
        keys = [ApiKey(**item) for item in data["keys"]]
        return cls(
            accounts={a.uid: a for a in accounts},
            keys={k.api_key: k for k in keys},
            usernames=set(data["usernames"]),
        )
