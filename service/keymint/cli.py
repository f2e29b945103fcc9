"""The `keymint` command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keymint import __version__

if TYPE_CHECKING:
    from keymint.client import Keymint

# The server's modules are imported inside its commands: `exec`, `agent` and the one-shot
# commands run in a bot's container with keymint.client (httpx) alone.


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
    from keymint.settings import Settings

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
@click.option("--timeout", "timeout_s", default=4.0, show_default=True, help="Seconds.")
def healthcheck(timeout_s: float) -> None:
    """Exit 0 when the keymint serving here answers /healthz (the image's HEALTHCHECK).

    Reads the same KEYMINT_HOST, KEYMINT_PORT and KEYMINT_TLS_CERT_FILE as `keymint serve`.
    The certificate is not verified: this asks whether the process is alive, not whether its
    chain is trusted.
    """
    import ssl
    import urllib.request

    from keymint.settings import Settings

    settings = Settings()
    scheme = "https" if settings.tls_cert_file else "http"
    # A wildcard listener is reached on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}/healthz"
    liveness_only = ssl.create_default_context()
    liveness_only.check_hostname = False
    liveness_only.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(  # noqa: S310 (a URL built from our own settings)
            url, timeout=timeout_s, context=liveness_only
        ) as answer:
            status = answer.status
    except OSError as exc:
        raise click.ClickException(f"{url}: {exc}") from None
    if status != 200:
        raise click.ClickException(f"{url} answered {status}")
    click.echo(f"{url}: ok")


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
    import yaml

    from keymint.app import create_app

    click.echo(yaml.safe_dump(create_app().openapi(), sort_keys=False), nl=False)


# --- for bots: keymint.client from the command line ---------------------------------------

ADDR = click.option(
    "--addr", envvar="KEYMINT_ADDR", default=None, help="keymint's address [env: KEYMINT_ADDR]"
)
TTL = click.option("--ttl", default=None, help="Lease TTL (Vault duration or seconds).")
ENV = click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="NAME=FIELD",
    help="Variable for a key field (api_key, api_secret, subaccount_uid, lease_id), "
    "repeatable; replaces the default BYBIT_API_KEY=api_key BYBIT_API_SECRET=api_secret. "
    "KEYMINT_LEASE_ID is always set.",
)
INSTANCE = click.option(
    "--instance-id", envvar="KEYMINT_INSTANCE_ID", default=None, help="The bot instance's name."
)
GRACE = click.option(
    "--grace",
    "grace_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds a replaced key keeps working after a rotation.",
)
FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["json", "env"]), default="json", show_default=True
)


@contextmanager
def refusals() -> Iterator[None]:
    """keymint's refusals as one line on stderr and exit 1; their text never holds a secret."""
    from keymint.client import KeymintError
    from keymint.client.render import BadMapping

    try:
        yield
    except (KeymintError, BadMapping) as exc:
        raise click.ClickException(str(exc)) from None


def bot_client(addr: str | None) -> Keymint:
    from keymint.client import Keymint
    from keymint.client.auth import login_from_env

    return Keymint(addr, token=login_from_env())


def log_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="keymint: %(message)s", stream=sys.stderr)


@main.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--role", required=True, help="The role to mint for.")
@TTL
@ENV
@INSTANCE
@GRACE
@click.option(
    "--on-rotate",
    default="restart",
    show_default=True,
    help="restart: restart the child with the new key; signal:NAME (signal:HUP): write the "
    "new key to --creds-file and send the child that signal.",
)
@click.option(
    "--creds-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also keep the key in this file (mode 0600, replaced atomically); its path is in "
    "KEYMINT_CREDS_FILE.",
)
@click.option("--creds-format", type=click.Choice(["json", "env"]), default="json")
@ADDR
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    role: str,
    ttl: str | None,
    env_pairs: tuple[str, ...],
    instance_id: str | None,
    grace_s: float,
    on_rotate: str,
    creds_file: Path | None,
    creds_format: Any,
    addr: str | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with a key in its environment, renewed and rotated; revoked at exit.

    keymint exec --role spot-trader -- python bot.py

    The child's exit code is keymint's. SIGTERM and SIGINT are forwarded. The child does not
    get VAULT_TOKEN.
    """
    from keymint.client.render import env_mapping
    from keymint.client.supervisor import CommandFailed, RotateMode, Supervisor

    log_to_stderr()
    try:
        mode = RotateMode.parse(on_rotate)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if mode.signal is not None and creds_file is None:
        raise click.UsageError("--on-rotate signal:... needs --creds-file: the new key goes there")
    with refusals(), bot_client(addr) as client:
        supervisor = Supervisor(
            client,
            role,
            command,
            env_mapping(env_pairs),
            ttl=ttl,
            instance_id=instance_id,
            on_rotate=mode,
            creds_file=creds_file,
            creds_format=creds_format,
            grace_s=grace_s,
        )
        try:
            code = supervisor.run()
        except CommandFailed as exc:
            click.echo(f"keymint: {exc}", err=True)
            code = 127
    sys.exit(code)


@main.command()
@click.option("--role", required=True, help="The role to mint for.")
@click.option(
    "--sink",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to keep the key in (mode 0600, replaced atomically).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["env", "json"]), default="env", show_default=True
)
@click.option(
    "--once",
    is_flag=True,
    help="Mint, write and exit (an init container). The lease is left alone: it lives until "
    "its TTL unless the bot renews it (KEYMINT_LEASE_ID / lease_id in the file).",
)
@TTL
@ENV
@INSTANCE
@GRACE
@ADDR
def agent(
    role: str,
    sink: Path,
    fmt: Any,
    once: bool,
    ttl: str | None,
    env_pairs: tuple[str, ...],
    instance_id: str | None,
    grace_s: float,
    addr: str | None,
) -> None:
    """Keep a key in a file: renewed, rotated before max_ttl, revoked on SIGTERM."""
    from keymint.client.agent import Agent
    from keymint.client.render import env_mapping

    log_to_stderr()
    with refusals(), bot_client(addr) as client:
        keeper = Agent(
            client,
            role,
            sink,
            env_mapping(env_pairs),
            fmt=fmt,
            ttl=ttl,
            instance_id=instance_id,
            grace_s=grace_s,
        )
        if once:
            keeper.once()
        else:
            keeper.run()


@main.command()
@click.argument("role")
@TTL
@FORMAT
@ENV
@INSTANCE
@ADDR
def creds(
    role: str,
    ttl: str | None,
    fmt: Any,
    env_pairs: tuple[str, ...],
    instance_id: str | None,
    addr: str | None,
) -> None:
    """Mint a key for ROLE and print it, like `vault read database/creds/ROLE`.

    Nobody renews the lease: it lives until its TTL, or `keymint lease renew/revoke`.
    """
    import json

    from keymint.client.render import env_mapping, render

    with refusals(), bot_client(addr) as client:
        mapping = env_mapping(env_pairs)
        lease = client.mint(role, ttl=ttl, instance_id=instance_id)
        lease.detach()
        if fmt == "env":
            click.echo(render(lease.credentials, "env", mapping), nl=False)
        else:
            data = json.loads(render(lease.credentials, "json", mapping))
            answer = {
                "lease_id": data.pop("lease_id"),
                "lease_duration": round(lease.lease_duration_s),
                "renewable": True,
                "data": data,
            }
            click.echo(json.dumps(answer, indent=2))


@main.group()
def lease() -> None:
    """Look up, renew or revoke a lease by its id (keymint/creds/<role>/...)."""


@lease.command()
@click.argument("lease_id")
@ADDR
def lookup(lease_id: str, addr: str | None) -> None:
    """Print the lease's times and key id as JSON."""
    import json

    with refusals(), bot_client(addr) as client:
        click.echo(json.dumps(client.lookup(lease_id), indent=2))


@lease.command()
@click.argument("lease_id")
@click.option("--increment", default=None, help="TTL asked for (Vault duration or seconds).")
@ADDR
def renew(lease_id: str, increment: str | None, addr: str | None) -> None:
    """Renew the lease; warnings (the max_ttl capped it) go to stderr."""
    import json

    with refusals(), bot_client(addr) as client:
        body = client.renew(lease_id, increment)
    for warning in body.get("warnings") or []:
        click.echo(f"warning: {warning}", err=True)
    click.echo(json.dumps(body["data"], indent=2))


@lease.command()
@click.argument("lease_id")
@ADDR
def revoke(lease_id: str, addr: str | None) -> None:
    """Revoke the lease: its key is deleted at Bybit."""
    with refusals(), bot_client(addr) as client:
        deleted = client.revoke(lease_id)
    if deleted:
        click.echo(f"Revoked {lease_id}: the key is deleted at Bybit.")
    else:
        click.echo(f"Revocation of {lease_id} accepted: keymint is still deleting the key.")
