"""The `keymint` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from keymint import __version__
from keymint.settings import Settings


@click.group()
@click.version_option(__version__, prog_name="keymint")
def main() -> None:
    """keymint: short-lived Bybit sub-account API keys for trading bots."""


@main.command()
def serve() -> None:
    """Run the keymint HTTP service."""
    import asyncio

    from keymint.app import StartupFailed
    from keymint.observability.logging import configure_logging
    from keymint.server import InsecureListener, serve

    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    try:
        asyncio.run(serve(settings))
    except InsecureListener as exc:
        raise click.ClickException(str(exc)) from None
    except StartupFailed:
        # Logged already, as one line; 3 is what uvicorn exits with when start-up fails.
        sys.exit(3)


@main.command()
@click.option("--vault-port", default=8200, show_default=True)
@click.option("--sim-port", default=8900, show_default=True)
@click.option("--keymint-port", default=8300, show_default=True)
@click.option("--subaccounts", default=3, show_default=True)
@click.option("--work-dir", default=".devstack", show_default=True, type=click.Path())
def dev(vault_port: int, sim_port: int, keymint_port: int, subaccounts: int, work_dir: str) -> None:
    """Start the local stack: OpenBao dev server, the Bybit simulator and keymint."""
    from keymint.devstack import run_dev

    run_dev(
        Path(work_dir).resolve(),
        vault_port=vault_port,
        sim_port=sim_port,
        keymint_port=keymint_port,
        subaccounts=subaccounts,
        echo=click.echo,
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="Report only: change nothing at Bybit or in Vault.")
@click.option("--addr", envvar="KEYMINT_ADDR", default="http://127.0.0.1:8300", show_default=True)
@click.option("--sub", "subs", type=int, multiple=True, help="Only this sub-account (repeatable).")
def reconcile(dry_run: bool, addr: str, subs: tuple[int, ...]) -> None:
    """Reconcile keymint's keys at Bybit with Vault and print the report as JSON.

    Calls keymint with your Vault token (VAULT_TOKEN or BAO_TOKEN).
    """
    import json

    from keymint.api_client import ApiError, call_api

    params = {"dry_run": str(dry_run).lower(), "subaccount": list(subs)}
    try:
        answer = call_api("POST", "/v1/reconcile", addr=addr, params=params)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in answer.get("warnings") or []:
        click.echo(f"warning: {warning}", err=True)
    click.echo(json.dumps(answer["data"], indent=2))


@main.command()
def openapi() -> None:
    """Print the OpenAPI document generated from the app (checked in as openapi.yaml)."""
    from keymint.app import create_app

    click.echo(yaml.safe_dump(create_app().openapi(), sort_keys=False), nl=False)
