"""Key expiry (bybit-v5.md section 7.2-7.5): expiredAt, deadlineDay and the sub-apikeys status."""

from __future__ import annotations

from dataclasses import dataclass

from bybit_sim.clock import DAY_MS, iso_utc
from bybit_sim.config import SimConfig
from bybit_sim.ips import is_bound
from bybit_sim.state import ApiKey

PERMANENT = 1
EXPIRED = 2
VALID = 3
EXPIRING_SOON = 4
PERMANENT_EXPIRED_AT = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Validity:
    expired_at: str
    deadline_day: int
    status: int

    @property
    def expired(self) -> bool:
        return self.status == EXPIRED


def validity(key: ApiKey, now_ms: int, config: SimConfig) -> Validity:
    if is_bound(key.ips):
        return Validity(PERMANENT_EXPIRED_AT, config.bound_key_deadline_day, PERMANENT)
    expires_ms = key.expiry_base_ms + round(config.key_expiry_days * DAY_MS)
    remaining = expires_ms - now_ms
    if remaining <= 0:
        status = EXPIRED
    elif remaining < config.expires_soon_days * DAY_MS:
        status = EXPIRING_SOON
    else:
        status = VALID
    # Three docs examples fit floor((expiredAt - now) / 1 day).
    return Validity(iso_utc(expires_ms), remaining // DAY_MS, status)


def note_edit(key: ApiKey, *, ips_changed: bool, now_ms: int, config: SimConfig) -> None:
    """Restart the expiry clock if this kind of edit restarts it."""
    mode = config.expiry_restarts_on
    if mode == "any_edit" or (mode == "ip_edit" and ips_changed):
        key.expiry_base_ms = now_ms
