"""The ``redial`` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from redial.config import DEFAULT_CONFIG_PATH, Settings, describe, load_settings, parse_settings
from redial.exceptions import ConfigError, StoreError
from redial.logs import configure_logging

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


def _settings(config_path: Path | None) -> Settings:
    """Load the settings or exit 78 with a message naming the offending key."""
    try:
        if config_path is None:
            if DEFAULT_CONFIG_PATH.exists():
                return load_settings(DEFAULT_CONFIG_PATH)
            return parse_settings({}, source="<defaults>")
        return load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"redial: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group()
@click.version_option(package_name="redial")
def main() -> None:
    """Call back customers whose queue call dropped: the same agent first, off their metrics."""


@main.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground (SIGTERM stops it cleanly)."""
    from redial.daemon import run_daemon

    settings = _settings(config_path)
    configure_logging(settings.logging)
    if not settings.ami.secret:
        click.echo(
            "redial: configuration error: ami.secret: no AMI secret set "
            "(ami.secret, ami.secret_file or REDIAL_AMI_SECRET)",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    try:
        asyncio.run(run_daemon(settings))
    except StoreError as exc:
        click.echo(f"redial: store error: {exc}", err=True)
        sys.exit(EXIT_STORE)


@main.command("check-config")
@config_option
def check_config(config_path: Path | None) -> None:
    """Validate the configuration and print the effective settings."""
    settings = _settings(config_path)
    effective = describe(settings)
    per_queue = effective.pop("queue_policies")
    click.echo(f"# {settings.source}: valid")
    click.echo(yaml.safe_dump(effective, sort_keys=False, default_flow_style=False).rstrip())
    for queue, policy in per_queue.items():
        click.echo(f"\n# effective policy of queue {queue}")
        click.echo(yaml.safe_dump({"queue": queue, "policy": policy}, sort_keys=False).rstrip())


@main.command()
@config_option
@click.argument("recordings", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--at",
    "start",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]),
    default=None,
    help="Simulated time the recording starts at (for business hours); default: now.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a call instead of a table.")
def replay(config_path: Path | None, recordings: tuple[Path, ...], start: dt.datetime | None, as_json: bool) -> None:
    """Run the policy over recorded AMI traffic (.ami bytes or .json events); originate nothing.

    Prints, for each queue call that ends in the recording, how it ended, the
    classification, the decision and its reason, and what the daemon would have done.
    """
    import time

    from redial.clock import ManualClock
    from redial.replay import load_frames
    from redial.replay import replay as run_replay
    from redial.store import Store

    settings = _settings(config_path)
    configure_logging(dataclasses.replace(settings.logging, level="error"))
    began = time.time() if start is None else (start if start.tzinfo else start.astimezone()).timestamp()

    async def go(path: Path) -> tuple[int, int, list[dict[str, Any]], list[str]]:
        store = await Store.open(":memory:")
        try:
            result = await run_replay(load_frames(path), settings, store, ManualClock(began))
            rows = list(reversed(await store.history(100000)))
        finally:
            await store.close()
        channels = [str(a.get("Channel")) for a in result.originated]
        return result.frames, result.events, rows, channels

    for path in recordings:
        try:
            frames, decoded, rows, rung = asyncio.run(go(path))
        except (ValueError, OSError) as exc:
            click.echo(f"redial: cannot replay {path}: {exc}", err=True)
            sys.exit(1)
        if as_json:
            for row in rows:
                click.echo(json.dumps({"file": str(path), **row}, sort_keys=True))
            continue
        click.echo(f"{path}: {frames} frames, {decoded} events used, {len(rows)} queue calls ended")
        for row in rows:
            cause = "-" if row["cause"] is None else row["cause"]
            click.echo(
                f"  call {row['linkedid']} from {row['customer_number'] or 'withheld'} in {row['queue']}, "
                f"ended by {row['ended_by']} with cause {cause}: {row['classification']}"
            )
            click.echo(f"    decision: {row['verdict']} ({row['reason']}): {row['detail']}")
            if row["redial_id"] is not None:
                click.echo(f"    would ring {', '.join(rung) or 'nobody'} first, then {row['customer_number']}")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@main.command()
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000), help="How many calls.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line instead of a table.")
def history(config_path: Path | None, limit: int, as_json: bool) -> None:
    """Recent ended queue calls, the decision on each, and the redial's outcome."""
    from redial.store import Store

    settings = _settings(config_path)
    if not settings.store.path.exists():
        click.echo(f"redial: no store at {settings.store.path} yet: the daemon has recorded nothing", err=True)
        sys.exit(1)

    async def fetch() -> list[dict[str, Any]]:
        store = await Store.open(settings.store.path)
        try:
            return await store.history(limit)
        finally:
            await store.close()

    try:
        rows = asyncio.run(fetch())
    except StoreError as exc:
        click.echo(f"redial: store error: {exc}", err=True)
        sys.exit(EXIT_STORE)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo("no calls recorded yet")
        return
    click.echo(f"{'ENDED':19}  {'CUSTOMER':14} {'QUEUE':10} {'AGENT':12} {'CAUSE':>5} {'DECISION':22} OUTCOME")
    for row in rows:
        decision = row["verdict"] if row["verdict"] == "redial" else f"skip:{row['reason']}"
        outcome = row["outcome"] or (row["redial_state"] or "-")
        click.echo(
            f"{_when(row['ended_at']):19}  {row['customer_number'][:14]:14} {str(row['queue'])[:10]:10} "
            f"{str(row['agent_member'] or row['agent_interface'] or '-')[:12]:12} "
            f"{'-' if row['cause'] is None else row['cause']:>5} {decision[:22]:22} {outcome}"
        )


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
