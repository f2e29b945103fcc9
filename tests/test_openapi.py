"""openapi.yaml is generated from the app and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import yaml

from keymint.app import create_app

OPENAPI = Path(__file__).resolve().parents[1] / "openapi.yaml"


def test_checked_in_openapi_matches_the_app() -> None:
    checked_in = yaml.safe_load(OPENAPI.read_text())
    assert checked_in == create_app().openapi(), (
        "openapi.yaml is stale: run `make openapi` and commit the result"
    )
