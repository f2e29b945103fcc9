"""Reconciliation: what Bybit holds, set against what Vault says keymint holds.

Every key keymint creates carries the note `<prefix>:<slot key>`, and its slot is written to the
sub-account's ledger before Bybit is called. So a keymint-noted key whose slot has no owner record
is an orphan (a crashed or rolled-back mint), and a slot with neither key nor owner is an intent
that never completed. A slot younger than `grace_s` may belong to a mint in flight (its key
created, its lease not yet written): nothing is destroyed or marked on its account until it is
older. Keys with any other note belong to someone else and are only counted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from keymint.bybit.errors import BybitError
from keymint.bybit.models import ApiKeyInfo
from keymint.engine.capacity import Ledger, Slot, SlotKind, read_ledger, release_slot
from keymint.engine.lease_ops import Leases
from keymint.engine.leases import Lease, LeaseState, lease_id
from keymint.engine.master import MasterKey
from keymint.engine.ownership import note_key, owner_exists
from keymint.engine.ports import KV, BybitKeys
from keymint.engine.reconcile_report import (
    Drift,
    DriftAction,
    Orphan,
    OrphanAction,
    ReconcileReport,
    SubaccountReport,
)
from keymint.engine.role_store import DefinitionStore, RoleStore
from keymint.engine.roles import Template
from keymint.engine.store import ledger_path, read_lease, with_cas_retry, write_lease
from keymint.engine.upstream import translate
from keymint.errors import BadRequest, Conflict, KeymintError, NotFound

log = structlog.get_logger(__name__)

DriftPolicy = Literal["report", "repair", "revoke"]


@dataclass(frozen=True)
class Scope:
    """What a source of keys puts under reconciliation: its sub-accounts and its note prefixes."""

    subaccounts: frozenset[int]
    note_prefixes: frozenset[str]


# Role pools are always a source; other kinds of keymint keys (static roles) plug in their own.
ScopeSource = Callable[[], Awaitable[Scope]]


def definition_scope(
    store: DefinitionStore[Template], subaccounts: Callable[[Template], Iterable[int]]
) -> ScopeSource:
    """The sub-accounts and note prefixes of every definition in `store`."""

    async def scope() -> Scope:
        found: list[Template] = []
        for name in await store.names():
            try:
                found.append((await store.get(name)).role)
            except NotFound:
                continue  # deleted since it was listed
        return Scope(
            frozenset(uid for definition in found for uid in subaccounts(definition)),
            frozenset(definition.note_prefix for definition in found),
        )

    return scope


@dataclass
class _Sweep:
    """One sub-account's pass: its Bybit client, the time it started, and its report."""

    uid: int
    bybit: BybitKeys
    now: float
    dry_run: bool
    report: SubaccountReport


class Reconciler:
    def __init__(
        self,
        kv: KV,
        master: MasterKey,
        roles: RoleStore,
        *,
        grace_s: float,
        drift_action: DriftPolicy,
        key_limit: int,
        leases: Leases,
        clock: Callable[[], float] = time.time,
        scope_sources: Sequence[ScopeSource] = (),
        on_report: Callable[[ReconcileReport], None] = lambda report: None,
    ) -> None:
        self._on_report = on_report
        self._kv = kv
        self._master = master
        self._roles = roles
        self._grace_s = grace_s
        self._drift_action = drift_action
        self._key_limit = key_limit
        self._clock = clock
        self._leases = leases
        self._sources = [definition_scope(roles, lambda role: role.subaccounts), *scope_sources]

    async def run(self, *, dry_run: bool, subaccounts: list[int] | None = None) -> ReconcileReport:
        """Every managed sub-account, or the ones named (each must be managed)."""
        scope = await self._scope()
        targets = scope.subaccounts
        if subaccounts is not None:
            unmanaged = sorted(set(subaccounts) - scope.subaccounts)
            if unmanaged:
                raise BadRequest(
                    f"subaccounts: {', '.join(map(str, unmanaged))} not managed by keymint "
                    "(in no role's pool and without a ledger)"
                )
            targets = frozenset(subaccounts)
        report = await self._pass(sorted(targets), scope.note_prefixes, dry_run=dry_run)
        log.info("reconciled", audit=True, dry_run=dry_run, **report.totals.model_dump())
        self._on_report(report)
        return report

    async def replay_intents(self) -> ReconcileReport:
        """The start-up replay: a full pass over the sub-accounts holding an unowned slot past
        its grace, which deletes the unfinished mint's key by its note and releases the slot."""
        scope = await self._scope()
        pending = [uid for uid in sorted(scope.subaccounts) if await self._has_stale_intent(uid)]
        report = await self._pass(pending, scope.note_prefixes, dry_run=False)
        self._on_report(report)
        return report

    async def _scope(self) -> Scope:
        ledgers = {int(name) for name in await self._kv.list("subaccounts/") if name.isdigit()}
        subs, prefixes = set(ledgers), set[str]()
        for source in self._sources:
            scope = await source()
            subs |= scope.subaccounts
            prefixes |= scope.note_prefixes
        return Scope(frozenset(subs), frozenset(prefixes))

    async def _has_stale_intent(self, uid: int) -> bool:
        ledger, _ = await read_ledger(self._kv, uid)
        now = self._clock()
        for key, slot in ledger.slots.items():
            if now - slot.reserved_at >= self._grace_s and not await owner_exists(
                self._kv, key, slot
            ):
                return True
        return False

    async def _pass(
        self, targets: list[int], prefixes: frozenset[str], *, dry_run: bool
    ) -> ReconcileReport:
        started = self._clock()
        reports = [await self._subaccount(uid, prefixes, dry_run=dry_run) for uid in targets]
        return ReconcileReport(
            dry_run=dry_run,
            started_at=_utc(started),
            finished_at=_utc(self._clock()),
            subaccounts=reports,
        )

    async def _subaccount(
        self, uid: int, prefixes: frozenset[str], *, dry_run: bool
    ) -> SubaccountReport:
        """One sub-account; its failure is recorded in its entry and stops no other."""
        report = SubaccountReport(subaccount=uid)
        try:
            bybit = await self._master.client()
            keys = await bybit.list_sub_api_keys(uid)
            ledger, _ = await read_ledger(self._kv, uid)
            sweep = _Sweep(uid, bybit, self._clock(), dry_run, report)
            await self._sweep(sweep, keys, ledger, prefixes)
        except BybitError as exc:
            report.error = translate(exc, doing=f"reconciling sub-account {uid}").message
        except KeymintError as exc:
            report.error = exc.message
        if report.error is not None:
            log.warning("reconcile_failed", subaccount=uid, error=report.error)
        return report

    async def _sweep(
        self, sweep: _Sweep, keys: list[ApiKeyInfo], ledger: Ledger, prefixes: frozenset[str]
    ) -> None:
        # Slots name their own prefix, so keys of a role deleted since are still recognised.
        known = set(prefixes) | {slot.note.partition(":")[0] for slot in ledger.slots.values()}
        at_bybit: set[str] = set()
        foreign = 0
        for key in keys:
            slot_key = note_key(key.note, known)
            if slot_key is None:
                foreign += 1
                continue
            at_bybit.add(slot_key)
            slot = ledger.slots.get(slot_key)
            if slot is None or not await owner_exists(self._kv, slot_key, slot):
                await self._orphan(sweep, key, slot_key, slot)
            elif slot.kind is SlotKind.LEASE:
                await self._drift(sweep, key, slot_key, slot)
        for slot_key, slot in ledger.slots.items():
            if slot_key not in at_bybit and sweep.now - slot.reserved_at >= self._grace_s:
                await self._keyless_slot(sweep, slot_key, slot)
        sweep.report.keys_total = len(keys)
        sweep.report.keymint_keys = len(keys) - foreign
        sweep.report.foreign_keys = foreign
        sweep.report.room = await self._record_foreign(sweep, foreign)

    async def _orphan(
        self, sweep: _Sweep, key: ApiKeyInfo, slot_key: str, slot: Slot | None
    ) -> None:
        # The slot's reservation dates the intent on keymint's own clock; a key without one can
        # only be dated by Bybit, whose clock keymint's is within a recv window of (or signed
        # requests would fail).
        age = sweep.now - (slot.reserved_at if slot else _created(key, sweep.now))
        orphan = Orphan(
            api_key=key.api_key, note=key.note, age_s=round(age, 1), action=OrphanAction.IN_GRACE
        )
        sweep.report.orphans.append(orphan)
        if age < self._grace_s:
            return
        if sweep.dry_run:
            orphan.action = OrphanAction.WOULD_DELETE
            return
        try:
            await sweep.bybit.delete_sub_api_key(key.api_key)
        except BybitError as exc:
            orphan.action = OrphanAction.DELETE_FAILED
            orphan.error = translate(exc, doing="deleting the orphaned key").message
            log.warning("orphan_delete_failed", subaccount=sweep.uid, api_key=key.api_key)
            return
        if slot is not None:
            await release_slot(self._kv, sweep.uid, slot_key)
        orphan.action = OrphanAction.DELETED
        log.info("orphan_deleted", subaccount=sweep.uid, api_key=key.api_key, note=key.note)

    async def _keyless_slot(self, sweep: _Sweep, slot_key: str, slot: Slot) -> None:
        if not await owner_exists(self._kv, slot_key, slot):
            sweep.report.stale_slots_released += 1
            if not sweep.dry_run:
                await release_slot(self._kv, sweep.uid, slot_key)
                log.info("stale_slot_released", subaccount=sweep.uid, note=slot.note)
        elif slot.kind is SlotKind.LEASE and await self._mark_lost(sweep, slot.role, slot_key):
            sweep.report.lost_leases.append(lease_id(slot.role, slot_key))
            log.warning("lease_lost", subaccount=sweep.uid, lease_id=lease_id(slot.role, slot_key))

    async def _mark_lost(self, sweep: _Sweep, role: str, key: str) -> bool:
        """An active lease whose key was deleted outside keymint; one being revoked is left to
        its revocation, which finds the key gone and finishes."""

        async def attempt() -> bool:
            found = await read_lease(self._kv, role, key)
            if found is None or found[0].state is not LeaseState.ACTIVE:
                return False
            if not sweep.dry_run:
                lost = found[0].model_copy(
                    update={
                        "state": LeaseState.LOST,
                        "last_error": "the key is gone at Bybit: deleted outside keymint",
                    }
                )
                await write_lease(self._kv, lost, cas=found[1])
            return True

        return await with_cas_retry(attempt, what=f"marking lease {lease_id(role, key)!r} lost")

    async def _drift(self, sweep: _Sweep, key: ApiKeyInfo, slot_key: str, slot: Slot) -> None:
        found = await read_lease(self._kv, slot.role, slot_key)
        if found is None or found[0].state is not LeaseState.ACTIVE:
            return
        lease = found[0]
        fields = drifted_fields(lease, key)
        if not fields:
            return
        drift = Drift(
            api_key=key.api_key, lease_id=lease.lease_id, fields=fields, action=DriftAction.REPORTED
        )
        sweep.report.drift.append(drift)
        log.warning("key_drift", subaccount=sweep.uid, lease_id=lease.lease_id, fields=fields)
        match self._drift_action:
            case "repair":
                await self._repair(sweep, lease, drift)
            case "revoke":
                await self._revoke(sweep, lease, drift)

    async def _repair(self, sweep: _Sweep, lease: Lease, drift: Drift) -> None:
        if sweep.dry_run:
            drift.action = DriftAction.WOULD_REPAIR
            return
        try:
            await sweep.bybit.update_sub_api_key(
                lease.api_key,
                permissions=lease.permissions,
                read_only=lease.read_only,
                ips=lease.ips,
            )
        except BybitError as exc:
            drift.action = DriftAction.REPAIR_FAILED
            drift.error = translate(exc, doing="putting the key back as leased").message
            return
        drift.action = DriftAction.REPAIRED

    async def _revoke(self, sweep: _Sweep, lease: Lease, drift: Drift) -> None:
        if sweep.dry_run:
            drift.action = DriftAction.WOULD_REVOKE
            return
        try:
            revocation = await self._leases.revoke(lease.lease_id, reason="drift")
        except Conflict as exc:
            # Another replica holds this lease's revocation: it finishes it.
            drift.action, drift.error = DriftAction.REVOKE_PENDING, exc.message
            return
        drift.action = DriftAction.REVOKED if revocation.revoked else DriftAction.REVOKE_PENDING
        drift.error = revocation.error

    async def _record_foreign(self, sweep: _Sweep, foreign: int) -> int:
        """Write the foreign key count Bybit showed into the ledger; the room left comes back."""

        async def attempt() -> int:
            ledger, version = await read_ledger(self._kv, sweep.uid)
            changed = ledger.external_keys != foreign
            ledger.external_keys = foreign
            if changed and not sweep.dry_run:
                await self._kv.write(
                    ledger_path(sweep.uid), ledger.model_dump(mode="json"), cas=version
                )
            return ledger.room(self._key_limit)

        return await with_cas_retry(attempt, what=f"counting sub-account {sweep.uid}'s keys")


def drifted_fields(lease: Lease, key: ApiKeyInfo) -> list[str]:
    """Which of the key's rights differ from what its lease was minted with."""
    fields = []
    if _granted(key.permissions) != _granted(lease.permissions):
        fields.append("permissions")
    if sorted(set(key.ips)) != sorted(set(lease.ips)):
        fields.append("ips")
    if key.read_only != lease.read_only:
        fields.append("read_only")
    return fields


def _granted(permissions: dict[str, list[str]]) -> dict[str, list[str]]:
    # Bybit lists every group, [] where nothing is granted; a lease records only what it grants.
    return {group: sorted(set(values)) for group, values in permissions.items() if values}


def _created(key: ApiKeyInfo, now: float) -> float:
    # A key Bybit gives no creation time for is treated as just made: never deleted unaged.
    return key.created_at.timestamp() if key.created_at else now


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
