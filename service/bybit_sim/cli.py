"""`bybit-sim`: run the simulator under uvicorn."""

from __future__ import annotations

from pathlib import Path

import click
import uvicorn

from bybit_sim.app import create_app
from bybit_sim.config import ConfigError, SimConfig, apply_overrides, parse_cli_overrides
from bybit_sim.persistence import StateFile

# Held (`timeout` fault) requests must not keep a stopping server alive for long.
GRACEFUL_SHUTDOWN_SECONDS = 2


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8900, show_default=True, type=int)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Load accounts and keys from here at start; save them on every change.",
)
@click.option(
    "--config",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field (see GET /__sim__/config); repeatable.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def main(
    host: str, port: int, state_file: Path | None, overrides: tuple[str, ...], log_level: str
) -> None:
    """A Bybit V5 REST simulator for the sub-account and API-key endpoints."""
    try:
        config = apply_overrides(SimConfig(), parse_cli_overrides(list(overrides)))
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from exc
    app = create_app(config, StateFile(state_file))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
