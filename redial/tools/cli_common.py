"""What every ``redial`` command shares: exit codes, ``--config``, loading the settings, reading the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from redial.config import DEFAULT_CONFIG_PATH, Settings, load_settings, parse_settings
from redial.exceptions import ConfigError, StoreError
from redial.store import Store

T = TypeVar("T")

# sysexits.h EX_CONFIG: systemd's RestartPreventExitStatus keeps a broken config from looping.
EXIT_CONFIG = 78
EXIT_STORE = 74

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="REDIAL_CONFIG",
    help=f"YAML configuration file (default {DEFAULT_CONFIG_PATH}, or $REDIAL_CONFIG).",
)


def settings_or_exit(config_path: Path | None, secret_problems: list[ConfigError] | None = None) -> Settings:
    """Load the settings or exit 78 with a message naming the offending key.

    Given ``secret_problems``, a secret that breaks its rules is listed there instead (the doctor's way).
    """
    try:
        if config_path is None:
            if DEFAULT_CONFIG_PATH.exists():
                return load_settings(DEFAULT_CONFIG_PATH, secret_problems=secret_problems)
            return parse_settings({}, source="<defaults>", secret_problems=secret_problems)
        return load_settings(config_path, secret_problems=secret_problems)
    except ConfigError as exc:
        click.echo(f"redial: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


def require_ami_secret(settings: Settings) -> None:
    """Commands that log in to AMI exit 78 without a secret, naming where one may come from."""
    if not settings.ami.secret:
        click.echo(
            "redial: configuration error: ami.secret: no AMI secret set "
            "(ami.secret, ami.secret_file or REDIAL_AMI_SECRET)",
            err=True,
        )
        sys.exit(EXIT_CONFIG)


def local_time(epoch: float | None) -> str:
    """An epoch as local time (2026-11-23 10:00:00), or "-" for none."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def require_store(settings: Settings) -> None:
    """Exit 1 when the daemon has not created its store yet."""
    if not settings.store.path.exists():
        click.echo(f"redial: no store at {settings.store.path} yet: the daemon has recorded nothing", err=True)
        sys.exit(1)


def read_store(settings: Settings, query: Callable[[Store], Awaitable[T]]) -> T:
    """Run one read against the store, or exit with a clear message."""
    require_store(settings)

    async def run() -> T:
        store = await Store.open(settings.store.path)
        try:
            return await query(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        click.echo(f"redial: store error: {exc}", err=True)
        sys.exit(EXIT_STORE)
