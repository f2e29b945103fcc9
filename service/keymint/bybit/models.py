"""Bybit V5 user-module responses, parsed into frozen models with Bybit's types pinned down.

UIDs are strings (Bybit answers ``"uid": "53888000"``), ``readOnly`` is an int on most
endpoints but a bool on sub-apikeys, so it is normalised to bool.
"""

from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from keymint.bybit.errors import ServerError

# IP-bound keys never expire; Bybit says so with this sentinel instead of leaving the field out.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class _BybitModel(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class ServerTime(_BybitModel):
    time_second: int
    time_nano: int

    @property
    def epoch_ms(self) -> int:
        return self.time_nano // 1_000_000


class SubMember(_BybitModel):
    uid: str
    username: str
    member_type: int
    status: int
    # create-sub-member's answer has no accountMode; the list endpoints always carry it.
    account_mode: int | None = None
    remark: str = ""


class ApiKeyInfo(_BybitModel):
    """One API key as query-api, sub-apikeys or the update endpoints describe it.

    Fields an endpoint does not return are None. ``expired_at`` is None for keys that do not
    expire (IP-bound keys, reported as 1970-01-01 with ``deadline_day`` -2).
    """

    id: str
    api_key: str
    note: str = ""
    read_only: bool
    ips: list[str] = Field(default_factory=list)
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    created_at: datetime | None = None
    expired_at: datetime | None = None
    deadline_day: int | None = None
    status: int | None = None
    flag: str | None = None
    type: int | None = None

    @field_validator("created_at", "expired_at", mode="before")
    @classmethod
    def _absent_time(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("expired_at")
    @classmethod
    def _never_expires(cls, value: datetime | None) -> datetime | None:
        return None if value == _NEVER else value


class CallingKeyInfo(ApiKeyInfo):
    """query-api: the calling key, plus the account it belongs to."""

    user_id: str = Field(alias="userID")
    is_master: bool
    parent_uid: str

    @field_validator("user_id", mode="before")
    @classmethod
    def _uid_text(cls, value: object) -> object:
        # query-api gives userID as a number while every other UID is a string.
        return str(value) if isinstance(value, int) else value


class CreatedApiKey(_BybitModel):
    """create-sub-api's answer: the only time Bybit ever returns a key's secret.

    ``ips`` are the addresses this client bound the key to; Bybit's answer omits them.
    """

    id: str
    api_key: str
    note: str = ""
    read_only: bool
    secret: SecretStr
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    ips: list[str]


class MemberType(_BybitModel):
    uid: str
    account_types: list[str] = Field(alias="accountType")


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: object, endpoint: str) -> Model:
    """Validate Bybit's ``result``; a mismatch is a ServerError naming the fields only.

    Pydantic's own message quotes the input, and a create-sub-api result holds the secret.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, error["loc"])) for error in exc.errors()})
    raise ServerError(None, f"unexpected {model.__name__}: bad fields {fields}", endpoint, 200)
