"""The `keymint` command line."""

from __future__ import annotations

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

    from keymint.observability.logging import configure_logging
    from keymint.server import InsecureListener, serve

    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    try:
        asyncio.run(serve(settings))
    except InsecureListener as exc:
        raise click.ClickException(str(exc)) from None


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
def openapi() -> None:
    """Print the OpenAPI document generated from the app (checked in as openapi.yaml)."""
    from keymint.app import create_app

    click.echo(yaml.safe_dump(create_app().openapi(), sort_keys=False), nl=False)
