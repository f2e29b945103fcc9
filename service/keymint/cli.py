"""The `keymint` command line."""

from __future__ import annotations

from pathlib import Path

import click
import uvicorn
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
    settings = Settings()
    uvicorn.run("keymint.app:create_app", factory=True, host=settings.host, port=settings.port)


@main.command()
@click.option("--vault-port", default=8200, show_default=True)
@click.option("--sim-port", default=8900, show_default=True)
@click.option("--subaccounts", default=3, show_default=True)
@click.option("--work-dir", default=".devstack", show_default=True, type=click.Path())
def dev(vault_port: int, sim_port: int, subaccounts: int, work_dir: str) -> None:
    """Start the embedded local stack: OpenBao dev server and the Bybit simulator."""
    from keymint.devstack import run_dev

    run_dev(
        Path(work_dir).resolve(),
        vault_port=vault_port,
        sim_port=sim_port,
        subaccounts=subaccounts,
        echo=click.echo,
    )


@main.command()
def openapi() -> None:
    """Print the OpenAPI document generated from the app (checked in as openapi.yaml)."""
    from keymint.app import create_app

    click.echo(yaml.safe_dump(create_app().openapi(), sort_keys=False), nl=False)
