"""Reconciliation: what Bybit holds, set against the sub-account records.

Every key keymint creates carries the note `<prefix>:<key id>`, and its entry is written to the
sub-account's record before Bybit is called. Per sub-account the pass reads the record, lists
Bybit, and reads the record again: every key in the listing already has its entry in the second
read if it has one, and an entry settled in the first read had its key made before the listing,
so its absence there means the key is gone. Then it decides:

- a keymint-noted key without an entry, or whose entry is still `minting` past the grace
  period, is an orphan (a crashed or rolled-back mint) and is deleted; so is a pooled key of a
  role that no longer exists and a static key its role no longer holds;
- an entry past the grace period with no key at Bybit is an intent that never completed, or a
  key deleted by hand (an active lease is then marked lost);
- an active lease whose key's rights differ is drift: reported, repaired or revoked;
- keys with any other note belong to someone else and are only counted.

Nothing is decided on a stale read: each change is a check-and-set that re-checks the entry,
and an orphan is deleted only after a check-and-set proved it still unowned, so a hand-out or
a mint finishing at the same moment always wins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from keymint.engine.dynamic.lease import Lease, LeaseRef
from keymint.engine.dynamic.leases import LeaseService
from keymint.engine.dynamic.role import Role, RoleStore
from keymint.engine.events import EngineEvents
from keymint.engine.keys.account import DELETION_PENDING, Account, KeyEntry, KeyState, Owner
from keymint.engine.keys.accounts import AccountStore
from keymint.engine.keys.capacity import roles_by_subaccount
from keymint.engine.keys.deletion import KeyDeleter, Outcome
from keymint.engine.keys.notes import key_of_note
from keymint.engine.keys.provisioning import Provisioner
from keymint.engine.leader import Fence, LeaderLost
from keymint.engine.ports import Bybit, BybitFailure, KeySpec, ListedKey
from keymint.engine.reconcile.report import (
    Drift,
    DriftAction,
    Orphan,
    OrphanAction,
    ReconcileReport,
    SubaccountReport,
)
from keymint.engine.static.role import StaticRole, StaticRoleStore
from keymint.engine.static.rotation import StaticCreds
from keymint.engine.upstream import translate
from keymint.errors import BadRequest, KeymintError

log = structlog.get_logger(__name__)

DriftPolicy = Literal["report", "repair", "revoke"]
# Sub-accounts reconciled at once: each is a list at Bybit, paced by the client.
CONCURRENCY = 8


@dataclass(frozen=True)
class Scope:
    subaccounts: frozenset[int]
    note_prefixes: frozenset[str]
    roles: dict[str, Role]
    static_roles: dict[str, StaticRole]


@dataclass
class _Sweep:
    """One sub-account's pass: when it listed Bybit, what it found, and its report."""

    uid: int
    now: float
    dry_run: bool
    scope: Scope
    report: SubaccountReport
    fence: Fence | None


class Reconciler:
    def __init__(
        self,
        store: AccountStore,
        bybit: Bybit,
        deleter: KeyDeleter,
        leases: LeaseService,
        roles: RoleStore,
        static_roles: StaticRoleStore,
        static_state: Callable[[str], Awaitable[StaticCreds]],
        provisioner: Provisioner,
        events: EngineEvents,
        *,
        grace_s: float,
        drift_action: DriftPolicy,
        key_limit: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._bybit = bybit
        self._deleter = deleter
        self._leases = leases
        self._roles = roles
        self._static_roles = static_roles
        self._static_state = static_state
        self._provisioner = provisioner
        self._events = events
        self._grace_s = grace_s
        self._drift_action = drift_action
        self._limit = key_limit
        self._clock = clock

    async def run(
        self, *, dry_run: bool, subaccounts: list[int] | None = None, fence: Fence | None = None
    ) -> ReconcileReport:
        """Every managed sub-account, or the ones named (each must be managed)."""
        scope = await self._scope()
        targets = scope.subaccounts
        if subaccounts is not None:
            unmanaged = sorted(set(subaccounts) - scope.subaccounts)
            if unmanaged:
                raise BadRequest(
                    f"subaccounts: {', '.join(map(str, unmanaged))} not managed by keymint "
                    "(in no role's pool and without a record)"
                )
            targets = frozenset(subaccounts)
        report = await self._pass(sorted(targets), scope, dry_run=dry_run, fence=fence)
        log.info("reconciled", audit=True, dry_run=dry_run, **report.totals.model_dump())
        self._events.reconciled(report)
        return report

    async def replay_intents(self) -> ReconcileReport:
        """The start-up replay: a pass over the sub-accounts holding a `minting` entry past its
        grace, which deletes the unfinished mint's key by its note and drops the entry."""
        scope = await self._scope()
        now = self._clock()
        accounts = await self._store.read_many(sorted(scope.subaccounts))
        pending = [
            a.uid for a in accounts if any(self._stale_intent(e, now) for e in a.keys.values())
        ]
        report = await self._pass(pending, scope, dry_run=False, fence=None)
        self._events.reconciled(report)
        return report

    def _stale_intent(self, entry: KeyEntry, now: float) -> bool:
        return entry.state is KeyState.MINTING and now - entry.reserved_at >= self._grace_s

    async def _scope(self) -> Scope:
        roles = await self._roles.all()
        statics = await self._static_roles.all()
        served = await roles_by_subaccount(roles, statics, self._provisioner)
        subs = set(await self._store.uids()) | set(served)
        prefixes = {r.note_prefix for r in roles.values()} | {
            r.note_prefix for r in statics.values()
        }
        return Scope(frozenset(subs), frozenset(prefixes), roles, statics)

    async def _pass(
        self, targets: list[int], scope: Scope, *, dry_run: bool, fence: Fence | None
    ) -> ReconcileReport:
        started = self._clock()
        running = asyncio.Semaphore(CONCURRENCY)

        async def one(uid: int) -> SubaccountReport:
            async with running:
                return await self._subaccount(uid, scope, dry_run=dry_run, fence=fence)

        reports = list(await asyncio.gather(*(one(uid) for uid in targets)))
        return ReconcileReport(
            dry_run=dry_run,
            started_at=_utc(started),
            finished_at=_utc(self._clock()),
            subaccounts=reports,
        )

    async def _subaccount(
        self, uid: int, scope: Scope, *, dry_run: bool, fence: Fence | None
    ) -> SubaccountReport:
        """One sub-account; its failure is recorded in its entry and stops no other."""
        report = SubaccountReport(subaccount=uid)
        try:
            before = await self._store.read(uid)
            listed = await self._bybit.list_keys(uid)
            account = await self._store.read(uid)
            sweep = _Sweep(uid, self._clock(), dry_run, scope, report, fence)
            await self._sweep(sweep, listed, before, account)
        except LeaderLost as exc:
            report.error = exc.message
        except BybitFailure as exc:
            report.error = translate(exc, doing=f"reconciling sub-account {uid}").message
        except KeymintError as exc:
            report.error = exc.message
        if report.error is not None:
            log.warning("reconcile_failed", subaccount=uid, error=report.error)
        return report

    async def _sweep(
        self, sweep: _Sweep, listed: list[ListedKey], before: Account, account: Account
    ) -> None:
        # Entries name their own prefix, so keys of a role deleted since are still recognised.
        known = set(sweep.scope.note_prefixes) | {
            e.note.partition(":")[0] for e in account.keys.values()
        }
        at_bybit: dict[str, ListedKey] = {}
        foreign = 0
        for key in listed:
            key_id = key_of_note(key.note, known)
            if key_id is None:
                foreign += 1
            else:
                at_bybit[key_id] = key
        for key_id, key in at_bybit.items():
            await self._judge_key(sweep, key_id, key, account.keys.get(key_id))
        # Settled before the listing, and unchanged since: made before the listing.
        missing = [
            e for k, e in account.keys.items() if k not in at_bybit and before.keys.get(k) == e
        ]
        await self._judge_missing(sweep, missing)
        sweep.report.keys_total = len(listed)
        sweep.report.keymint_keys = len(listed) - foreign
        sweep.report.foreign_keys = foreign
        sweep.report.room = await self._record_foreign(sweep, foreign)

    async def _judge_key(
        self, sweep: _Sweep, key_id: str, key: ListedKey, entry: KeyEntry | None
    ) -> None:
        if entry is None:
            # Dated by Bybit, whose clock keymint's is within a recv window of.
            await self._orphan(sweep, key_id, key, None, sweep.now - (key.created_at or sweep.now))
            return
        age = sweep.now - entry.reserved_at
        if entry.state is KeyState.MINTING:
            # Past the grace, a static key already published only needs its entry settled.
            if (
                age >= self._grace_s
                and entry.owner is Owner.STATIC
                and await self._published(entry)
            ):
                await self._settle_static(sweep, entry, key)
                return
            await self._orphan(sweep, key_id, key, entry, age)
        elif not await self._owned(sweep, entry):
            await self._orphan(sweep, key_id, key, entry, age)
        elif entry.owner is Owner.LEASE and entry.state is KeyState.ACTIVE:
            await self._drift(sweep, entry, key)

    async def _owned(self, sweep: _Sweep, entry: KeyEntry) -> bool:
        """Whether the role behind a settled entry still holds it."""
        if entry.owner is Owner.POOL:
            return entry.state is not KeyState.POOLED or entry.role in sweep.scope.roles
        if entry.owner is Owner.STATIC and entry.state is KeyState.ACTIVE:
            return entry.role in sweep.scope.static_roles and await self._published(entry)
        return True

    async def _published(self, entry: KeyEntry) -> bool:
        return (await self._static_state(entry.role)).holds(entry.key)

    async def _orphan(
        self, sweep: _Sweep, key_id: str, key: ListedKey, entry: KeyEntry | None, age: float
    ) -> None:
        orphan = Orphan(
            api_key=key.api_key, note=key.note, age_s=round(age, 1), action=OrphanAction.IN_GRACE
        )
        sweep.report.orphans.append(orphan)
        if age < self._grace_s:
            return
        if sweep.dry_run:
            orphan.action = OrphanAction.WOULD_DELETE
            return
        placeholder = None
        if entry is None:
            placeholder = KeyEntry(
                key=key_id,
                owner=Owner.LEASE,
                role="",
                note=key.note,
                state=KeyState.REVOKING,
                reserved_at=sweep.now,
                api_key=key.api_key,
            )
        retired = await self._deleter.retire(
            sweep.uid,
            key_id,
            reason="orphan",
            expect=_unchanged(entry) if entry is not None else _absent(placeholder),
            fence=sweep.fence,
            orphan=placeholder,
            api_key=key.api_key,
        )
        match retired.outcome:
            case Outcome.DELETED:
                orphan.action = OrphanAction.DELETED
                log.info("orphan_deleted", subaccount=sweep.uid, api_key=key.api_key, note=key.note)
            case Outcome.PENDING:
                orphan.action = OrphanAction.DELETE_FAILED
                orphan.error = retired.error
                log.warning("orphan_delete_failed", subaccount=sweep.uid, api_key=key.api_key)
            case _:
                # Owned after all (handed out, settled): a concurrent operation won.
                sweep.report.orphans.remove(orphan)

    async def _settle_static(self, sweep: _Sweep, entry: KeyEntry, key: ListedKey) -> None:
        if sweep.dry_run:
            return

        def settle(account: Account) -> None:
            found = account.keys.get(entry.key)
            if found == entry:
                account.keys[entry.key] = entry.model_copy(
                    update={"state": KeyState.ACTIVE, "api_key": key.api_key}
                )

        await self._store.change(sweep.uid, settle)

    async def _judge_missing(self, sweep: _Sweep, missing: list[KeyEntry]) -> None:
        """Entries whose key Bybit did not list."""
        stale: list[KeyEntry] = []
        lost: list[KeyEntry] = []
        for entry in missing:
            if entry.state is KeyState.MINTING:
                if sweep.now - entry.reserved_at >= self._grace_s:
                    stale.append(entry)
            elif entry.state is KeyState.ACTIVE:
                lost.append(entry)
            elif entry.state is KeyState.POOLED or (
                entry.state in DELETION_PENDING and not entry.claimed(sweep.now)
            ):
                stale.append(entry)
        sweep.report.stale_slots_released += len(stale)
        for entry in lost:
            if entry.owner is Owner.LEASE:
                sweep.report.lost_leases.append(LeaseRef(entry.role, sweep.uid, entry.key).lease_id)
            log.warning("key_lost", subaccount=sweep.uid, role=entry.role, note=entry.note)
        if sweep.dry_run or not (stale or lost):
            return

        def apply(account: Account) -> None:
            for entry in stale:
                if account.keys.get(entry.key) == entry:
                    del account.keys[entry.key]
            for entry in lost:
                if account.keys.get(entry.key) == entry:
                    account.keys[entry.key] = entry.model_copy(
                        update={
                            "state": KeyState.LOST,
                            "last_error": "the key is gone at Bybit: deleted outside keymint",
                        }
                    )

        await self._store.change(sweep.uid, apply)

    async def _drift(self, sweep: _Sweep, entry: KeyEntry, key: ListedKey) -> None:
        lease = Lease.of(sweep.uid, entry)
        fields = drifted_fields(entry.spec, key.spec)
        if lease is None or not fields:
            return
        drift = Drift(
            api_key=key.api_key, lease_id=lease.lease_id, fields=fields, action=DriftAction.REPORTED
        )
        sweep.report.drift.append(drift)
        log.warning("key_drift", subaccount=sweep.uid, lease_id=lease.lease_id, fields=fields)
        match self._drift_action:
            case "repair":
                await self._repair(sweep, entry, drift)
            case "revoke":
                await self._revoke(sweep, lease, drift)

    async def _repair(self, sweep: _Sweep, entry: KeyEntry, drift: Drift) -> None:
        if sweep.dry_run:
            drift.action = DriftAction.WOULD_REPAIR
            return
        try:
            if sweep.fence is not None:
                sweep.fence.check("repairing a drifted key")
            await self._bybit.update_key(entry.api_key, entry.spec)
        except BybitFailure as exc:
            drift.action = DriftAction.REPAIR_FAILED
            drift.error = translate(exc, doing="putting the key back as leased").message
            return
        drift.action = DriftAction.REPAIRED

    async def _revoke(self, sweep: _Sweep, lease: Lease, drift: Drift) -> None:
        if sweep.dry_run:
            drift.action = DriftAction.WOULD_REVOKE
            return
        revocation = await self._leases.revoke(lease.lease_id, reason="drift")
        drift.action = DriftAction.REVOKED if revocation.revoked else DriftAction.REVOKE_PENDING
        drift.error = revocation.error

    async def _record_foreign(self, sweep: _Sweep, foreign: int) -> int:
        """Write the foreign key count Bybit showed into the record; the room left comes back."""

        def count(account: Account) -> int:
            account.foreign_keys = foreign
            return account.room(self._limit)

        if sweep.dry_run:
            return (await self._store.read(sweep.uid)).room(self._limit)
        return await self._store.change(sweep.uid, count)


def drifted_fields(leased: KeySpec, listed: KeySpec) -> list[str]:
    """Which of the key's rights differ from what its lease was minted with."""
    fields = []
    if _granted(listed.permissions) != _granted(leased.permissions):
        fields.append("permissions")
    if sorted(set(listed.ips)) != sorted(set(leased.ips)):
        fields.append("ips")
    if listed.read_only != leased.read_only:
        fields.append("read_only")
    return fields


def _granted(permissions: dict[str, list[str]]) -> dict[str, list[str]]:
    # Bybit lists every group, [] where nothing is granted; a lease records only what it grants.
    return {group: sorted(set(values)) for group, values in permissions.items() if values}


def _unchanged(entry: KeyEntry) -> Callable[[KeyEntry], bool]:
    def expect(current: KeyEntry) -> bool:
        return current == entry

    return expect


def _absent(placeholder: KeyEntry | None) -> Callable[[KeyEntry], bool]:
    def expect(current: KeyEntry) -> bool:
        return current is placeholder

    return expect


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
