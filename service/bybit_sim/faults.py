"""Injected faults: what the next requests to a Bybit path suffer (docs/simulator-control.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(pattern=r"^/")
    count: int | None = Field(1, ge=1)  # None = every request until DELETE /__sim__/faults
    latency_ms: int = Field(0, ge=0)
    ret_code: int | None = None
    ret_msg: str | None = None
    http_status: int | None = Field(None, ge=100, le=599)
    timeout: bool = False
    drop_after_action: bool = False
    # Only requests about this sub-account (subuid / subMemberId); None: every request.
    subaccount: int | None = None

    @model_validator(mode="after")
    def _one_outcome(self) -> Self:
        outcomes = [
            self.ret_code is not None,
            self.http_status is not None,
            self.timeout,
            self.drop_after_action,
        ]
        if sum(outcomes) > 1:
            raise ValueError("at most one of ret_code, http_status, timeout, drop_after_action")
        if self.ret_code == 0:
            raise ValueError("ret_code must be non-zero: an injected error")
        return self


@dataclass
class Fault:
    id: str
    spec: FaultSpec
    remaining: int | None

    def describe(self) -> dict[str, object]:
        return {"id": self.id, **self.spec.model_dump(), "count": self.remaining}


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: FaultSpec) -> str:
        fault = Fault(id=f"f{self._next_id}", spec=spec, remaining=spec.count)
        self._next_id += 1
        self._faults.append(fault)
        return fault.id

    def describe(self) -> list[dict[str, object]]:
        return [fault.describe() for fault in self._faults]

    def clear(self) -> None:
        self._faults.clear()

    def take(self, path: str, subaccount: int | None = None) -> FaultSpec | None:
        """The oldest fault for `path` (and the request's sub-account), used up by one request."""
        for fault in self._faults:
            if fault.spec.endpoint != path:
                continue
            if fault.spec.subaccount is not None and fault.spec.subaccount != subaccount:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault.spec
        return None
