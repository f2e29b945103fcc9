"""structlog for keymint and the libraries under it: one pipeline, redacted before rendering
and again after, since an exception's text and traceback only exist once rendered.

JSON in production, console in development; stdlib loggers (uvicorn, httpx, hvac) go through
the same processors, so no library can print around the redaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

# Field names whose values are never logged, whatever put them there.
SENSITIVE = re.compile(r"(secret|token|password|passwd|signature|sign|authorization|jwt)", re.I)
# Values that look like credentials even under an innocent name: Vault tokens (hvs./s.),
# X-BAPI-SIGN hex digests, PEM blocks.
_VALUE_PATTERNS = [
    re.compile(r"\b(hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]
# In rendered text (an exception's message, a traceback): `secret=...`, `"token": "..."`,
# `Bearer ...`; the value goes, the name stays so the line still says what was there.
_TEXT_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)(?!\[redacted\])[^\s\"',;}\]]+"),
    re.compile(
        # Not a path segment: `auth/token': ...` names an endpoint, not a value.
        r"(?i)((?<![/.\w-])(?:api_?secret|secret|token|password|passwd|signature|x-bapi-sign|jwt)[\w-]*"
        r"[\"']?\s*[:=]\s*[\"']?)(?!\[redacted\])[^\s\"',;}\]]{4,}"
    ),
]
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    for pattern in _VALUE_PATTERNS:
        text = pattern.sub(REDACTED, text)
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactedRenderer:
    """The last step: whatever the renderer made of the event, exception text included, is
    redacted as text before it is written."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        rendered = self._renderer(logger, method, event_dict)
        return redact_text(rendered if isinstance(rendered, str) else str(rendered))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in _VALUE_PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if SENSITIVE.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "event" and SENSITIVE.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(*, fmt: str = "json", level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    tail: list[Any] = [redact]
    if fmt != "console":
        # Tracebacks as data, without frame locals (a local may hold a secret).
        tail.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            RedactedRenderer(renderer),
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # APScheduler says INFO for every job run (most of an idle replica's log): routine, so it
    # shows only when keymint itself logs at DEBUG; its warnings and errors always show.
    debug = logging.getLevelName(level.upper()) == logging.DEBUG
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if debug else logging.WARNING)
