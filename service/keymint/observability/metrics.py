"""Every Prometheus metric keymint exports, defined once.

Conventions: prefix `keymint_`, base units (seconds, timestamps in Unix seconds), `_total`
counters, no key id, lease id or secret as a label. Counters count what this replica did (sum
them across replicas); gauges under "state of the world" are recomputed from the lease store and
the ledgers by every replica, so two replicas report the same values.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from keymint import __version__

REGISTRY = CollectorRegistry(auto_describe=True)

# Lifetimes and ages of keys: from seconds (tests, short TTLs) to Bybit's 90 days.
AGE_BUCKETS = (
    60,
    300,
    900,
    3600,
    4 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    30 * 86400,
    60 * 86400,
    90 * 86400,
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

BUILD_INFO = Info("keymint_build", "keymint version", registry=REGISTRY)
BUILD_INFO.info({"version": __version__})

# --- state of the world (refreshed by observability.state) ---------------------------------
SUBACCOUNT_KEYS = Gauge(
    "keymint_subaccount_keys",
    "API keys on a managed sub-account, keymint's and foreign",
    ["subaccount"],
    registry=REGISTRY,
)
SUBACCOUNT_KEY_LIMIT = Gauge(
    "keymint_subaccount_key_limit",
    "API keys a sub-account may hold",
    ["subaccount"],
    registry=REGISTRY,
)
SUBACCOUNT_MANAGED_KEYS = Gauge(
    "keymint_subaccount_managed_keys",
    "API keys keymint holds on a sub-account (leased, pooled, static, in flight)",
    ["subaccount"],
    registry=REGISTRY,
)
KEYS_ACTIVE = Gauge("keymint_keys_active", "Live leased keys per role", ["role"], registry=REGISTRY)
WARM_POOL_KEYS = Gauge(
    "keymint_warm_pool_keys", "Keys ready in a role's warm pool", ["role"], registry=REGISTRY
)
KEY_OLDEST_AGE = Gauge(
    "keymint_key_oldest_age_seconds",
    "Age of the oldest live key of a role",
    ["role"],
    registry=REGISTRY,
)
REVOCATION_BACKLOG = Gauge(
    "keymint_revocation_backlog",
    "Expired or revoked leases whose key deletion Bybit has not confirmed yet",
    registry=REGISTRY,
)
IRREVOCABLE_LEASES = Gauge(
    "keymint_irrevocable_leases",
    "Leases whose key could not be deleted after every retry (still retried daily)",
    registry=REGISTRY,
)
ROTATION_LAST_SUCCESS = Gauge(
    "keymint_rotation_last_success_timestamp_seconds",
    "When a static role's key was last replaced",
    ["role"],
    registry=REGISTRY,
)
SCHEDULER_LEADER = Gauge(
    "keymint_scheduler_leader",
    "1 on the replica that holds the scheduler lock",
    registry=REGISTRY,
)
VAULT_UP = Gauge("keymint_vault_up", "1 when Vault answered the last call", registry=REGISTRY)

# --- what this replica did -------------------------------------------------------------------
KEY_LIFETIME = Histogram(
    "keymint_key_lifetime_seconds",
    "How long keys lived, observed when they are deleted at Bybit",
    ["role"],
    buckets=AGE_BUCKETS,
    registry=REGISTRY,
)
MINTS = Counter(
    "keymint_mints_total",
    "Credential requests by outcome (issued, warm, refused, failed)",
    ["role", "outcome"],
    registry=REGISTRY,
)
REVOCATIONS = Counter(
    "keymint_revocations_total",
    "Key deletions by reason (expired, revoked, rotated, orphan, drift, replaced) and outcome",
    ["role", "reason", "outcome"],
    registry=REGISTRY,
)
ROTATIONS = Counter(
    "keymint_rotations_total",
    "Static role rotations by outcome",
    ["role", "outcome"],
    registry=REGISTRY,
)
ORPHANS_DELETED = Counter(
    "keymint_orphan_keys_deleted_total",
    "Keys with keymint's note and no owner, deleted by reconciliation",
    registry=REGISTRY,
)
ORPHANS_FOUND = Counter(
    "keymint_orphan_keys_found_total",
    "Keys with keymint's note and no owner, found by reconciliation",
    registry=REGISTRY,
)
DRIFT_DETECTED = Counter(
    "keymint_drift_detected_total",
    "Keys whose permissions, IPs or read-only flag were changed outside keymint",
    registry=REGISTRY,
)
RECONCILIATIONS = Counter(
    "keymint_reconciliations_total",
    "Reconciliation passes by outcome (ok, partial)",
    ["outcome"],
    registry=REGISTRY,
)
BYBIT_DURATION = Histogram(
    "keymint_bybit_request_duration_seconds",
    "Bybit API request latency per attempt",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
BYBIT_ERRORS = Counter(
    "keymint_bybit_errors_total",
    "Failed Bybit attempts by error class (auth, permission, ip, rate_limit, invalid, server, "
    "network)",
    ["endpoint", "error_class"],
    registry=REGISTRY,
)
BYBIT_RATE_LIMIT_REMAINING = Gauge(
    "keymint_bybit_rate_limit_remaining",
    "Requests left in Bybit's current rate-limit window (X-Bapi-Limit-Status)",
    ["endpoint"],
    registry=REGISTRY,
)
VAULT_DURATION = Histogram(
    "keymint_vault_request_duration_seconds",
    "Vault request latency",
    ["operation"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "keymint_http_requests_total",
    "API requests by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "keymint_http_request_duration_seconds",
    "API request latency by route template",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)


class KeyAges(Collector):
    """`keymint_key_age_seconds{role}`: a gauge histogram of the ages of live keys right now,
    recomputed from the lease store (a key's age is not something a counter can accumulate)."""

    def __init__(self) -> None:
        self._ages: dict[str, list[float]] = {}

    def set(self, ages: dict[str, list[float]]) -> None:
        self._ages = ages

    def collect(self) -> Iterator[GaugeHistogramMetricFamily]:
        family = GaugeHistogramMetricFamily(
            "keymint_key_age_seconds", "Ages of live keys per role", labels=["role"]
        )
        for role, ages in sorted(self._ages.items()):
            buckets = [(str(float(b)), sum(1 for a in ages if a <= b)) for b in AGE_BUCKETS]
            buckets.append(("+Inf", len(ages)))
            family.add_metric([role], buckets, gsum_value=sum(ages))
        yield family

    def describe(self) -> Iterator[GaugeHistogramMetricFamily]:
        yield GaugeHistogramMetricFamily(
            "keymint_key_age_seconds", "Ages of live keys per role", labels=["role"]
        )


KEY_AGES = KeyAges()
REGISTRY.register(KEY_AGES)


class OptionalGauge(Collector):
    """A gauge that can be absent: Prometheus' way of saying "does not apply" (a permanent,
    IP-bound master key has no expiry), which a plain Gauge cannot express once set."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name = name
        self._documentation = documentation
        self.value: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.value is not None:
            yield GaugeMetricFamily(self._name, self._documentation, value=self.value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._name, self._documentation)


MASTER_KEY_EXPIRY = OptionalGauge(
    "keymint_master_key_expiry_timestamp_seconds",
    "When the Bybit master key expires (absent while it is IP-bound and permanent)",
)
REGISTRY.register(MASTER_KEY_EXPIRY)
