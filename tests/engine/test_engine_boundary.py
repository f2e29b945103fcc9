"""The engine is the domain: it reaches Vault and Bybit only through the ports it defines, and
metrics only through its events. Its imports prove it, file by file."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).parents[2] / "service" / "keymint" / "engine"
# Transports, web frameworks, metrics, and keymint's adapters and wiring.
FORBIDDEN = (
    "fastapi",
    "starlette",
    "hvac",
    "httpx",
    "requests",
    "prometheus_client",
    "uvicorn",
    "keymint.api",
    "keymint.bybit",
    "keymint.vault",
    "keymint.observability",
    "keymint.wiring",
)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_engine_module_imports_an_adapter_or_a_transport() -> None:
    modules = sorted(ENGINE.rglob("*.py"))
    assert len(modules) > 20
    found = {
        str(path.relative_to(ENGINE)): sorted(
            name for name in imported(path) if name.startswith(FORBIDDEN)
        )
        for path in modules
    }
    assert {module: names for module, names in found.items() if names} == {}


def test_importing_the_engine_loads_no_transport() -> None:
    probe = (
        "import sys, importlib, pkgutil, keymint.engine as e\n"
        "for m in pkgutil.walk_packages(e.__path__, 'keymint.engine.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
