"""What the engine and the adapters report, turned into metrics. The adapters call these
through their hooks; nothing in them knows about Prometheus."""

from __future__ import annotations

from keymint.bybit.errors import (
    AuthError,
    BybitError,
    CreateOutcomeLost,
    IpNotAllowedError,
    KeyCapError,
    NetworkError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from keymint.bybit.events import RequestEvent
from keymint.engine.reconcile_report import ReconcileReport
from keymint.engine.static_roles import Outcome, RotationOutcome
from keymint.observability import metrics

# Most specific first: KeyCapError is an InvalidRequestError, CreateOutcomeLost a BybitError.
_ERROR_CLASSES: list[tuple[type[BybitError], str]] = [
    (CreateOutcomeLost, "lost_create"),
    (KeyCapError, "key_cap"),
    (AuthError, "auth"),
    (PermissionDeniedError, "permission"),
    (IpNotAllowedError, "ip"),
    (RateLimitError, "rate_limit"),
    (ServerError, "server"),
    (NetworkError, "network"),
]


def error_class(error: type[BybitError]) -> str:
    for cls, label in _ERROR_CLASSES:
        if issubclass(error, cls):
            return label
    return "invalid"


def bybit_request(event: RequestEvent) -> None:
    metrics.BYBIT_DURATION.labels(event.endpoint).observe(event.duration_s)
    if event.error is not None:
        metrics.BYBIT_ERRORS.labels(event.endpoint, error_class(event.error)).inc()
    if event.rate_limit_remaining is not None:
        metrics.BYBIT_RATE_LIMIT_REMAINING.labels(event.endpoint).set(event.rate_limit_remaining)


def vault_operation(operation: str, seconds: float, answered: bool) -> None:
    metrics.VAULT_DURATION.labels(operation).observe(seconds)
    metrics.VAULT_UP.set(1 if answered else 0)


def rotation(outcome: RotationOutcome) -> None:
    match outcome.outcome:
        case Outcome.PREVIOUS_DELETED:
            metrics.REVOCATIONS.labels(outcome.role, "rotated", "ok").inc()
        case Outcome.DELETE_FAILED:
            metrics.REVOCATIONS.labels(outcome.role, "rotated", "failed").inc()
        case _:
            metrics.ROTATIONS.labels(outcome.role, outcome.outcome.value).inc()


def reconciliation(report: ReconcileReport) -> None:
    if report.dry_run:
        return
    totals = report.totals
    metrics.ORPHANS_FOUND.inc(totals.orphans)
    metrics.ORPHANS_DELETED.inc(totals.orphans_deleted)
    metrics.DRIFT_DETECTED.inc(totals.drift)
    metrics.RECONCILIATIONS.labels("partial" if totals.failed_subaccounts else "ok").inc()
