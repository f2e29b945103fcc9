"""The example bot pods (deploy/examples/): schema-valid for Kubernetes, and what they run is
what `keymint` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from keymint.cli import main

from .helmkit import ROOT, validate

EXAMPLES = sorted((ROOT / "deploy" / "examples").glob("*.yaml"))


def pod(path: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return dict(doc)


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def accepted(args: list[str]) -> click.Context:
    """The context `keymint ARGS` parses into (a bad option or a missing one raises)."""
    command = main.commands[args[0]]
    return command.make_context(args[0], args[1:])


def test_both_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} == {"bot-pod-agent.yaml", "bot-pod-exec.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_is_a_valid_pod(path: Path) -> None:
    validate(pod(path))


def test_the_agent_is_a_native_sidecar_sharing_its_sink_with_the_bot() -> None:
    spec = pod(ROOT / "deploy" / "examples" / "bot-pod-agent.yaml")["spec"]
    (agent,) = spec["initContainers"]
    (bot,) = spec["containers"]
    assert agent["restartPolicy"] == "Always"
    ctx = accepted(agent["args"])
    sink = str(ctx.params["sink"])
    assert not ctx.params["once"]
    assert agent["startupProbe"]["exec"]["command"] == ["test", "-s", sink]
    assert {"KEYMINT_ADDR", "VAULT_ADDR", "KEYMINT_K8S_ROLE"} <= env(agent).keys()
    (volume,) = spec["volumes"]
    assert volume["emptyDir"]["medium"] == "Memory"
    for c in (agent, bot):
        (mount,) = c["volumeMounts"]
        assert mount["name"] == volume["name"] and sink.startswith(mount["mountPath"] + "/")
    assert env(bot)["KEYMINT_CREDS_FILE"] == sink


def test_the_exec_example_runs_the_bot_under_keymint_exec() -> None:
    (bot,) = pod(ROOT / "deploy" / "examples" / "bot-pod-exec.yaml")["spec"]["containers"]
    assert bot["command"][0] == "keymint"
    ctx = accepted(bot["command"][1:])
    assert ctx.params["role"] == "spot-trader" and ctx.params["command"] == (
        "python",
        "/app/bot.py",
    )
    assert {"KEYMINT_ADDR", "VAULT_ADDR", "KEYMINT_K8S_ROLE"} <= env(bot).keys()
