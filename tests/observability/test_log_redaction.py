"""An exception's text is rendered after the structured redaction has run: the rendered line is
redacted as well (issue 11). Logged through keymint's own logging set-up, in both formats."""

from __future__ import annotations

import logging
import secrets

import pytest
import structlog

from keymint.observability.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_secret_inside_an_exception_is_redacted_in_the_rendered_line(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt=fmt, level="INFO")
    token = "s." + secrets.token_urlsafe(18)
    api_secret = secrets.token_hex(18)
    bearer = secrets.token_urlsafe(24)
    try:
        raise RuntimeError(
            f"upstream said: api_secret={api_secret} with token {token}; "
            f"sent Authorization: Bearer {bearer}"
        )
    except RuntimeError:
        structlog.get_logger("keymint.test").exception("call_failed", role="spot-trader")
        logging.getLogger("hvac.test").exception("library_failed")
    written = capsys.readouterr().err
    assert "call_failed" in written and "library_failed" in written
    assert "RuntimeError" in written and "spot-trader" in written
    for value in (token, api_secret, bearer):
        assert value not in written
    assert "[redacted]" in written
