"""The commands that check a setup without the daemon: ``redial check-config``, ``replay``, ``doctor``."""

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

from redial.config import describe
from redial.exceptions import ConfigError
from redial.service.logs import configure_logging
from redial.tools.cli_common import config_option, require_ami_secret, settings_or_exit


@click.command("check-config")
@config_option
def check_config(config_path: Path | None) -> None:
    """Validate the configuration and print the effective settings."""
    settings = settings_or_exit(config_path)
    effective = describe(settings)
    per_queue = effective.pop("queue_policies")
    click.echo(f"# {settings.source}: valid")
    click.echo(yaml.safe_dump(effective, sort_keys=False, default_flow_style=False).rstrip())
    for queue, policy in per_queue.items():
        click.echo(f"\n# effective policy of queue {queue}")
        click.echo(yaml.safe_dump({"queue": queue, "policy": policy}, sort_keys=False).rstrip())


@click.command()
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
    from redial.service.replay import load_frames
    from redial.service.replay import replay as run_replay
    from redial.store import Store

    settings = settings_or_exit(config_path)
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

    # Progress on a terminal only: a pipe or a file gets the results alone.
    show_progress = sys.stderr.isatty()
    for number, path in enumerate(recordings, start=1):
        if show_progress:
            click.echo(f"replaying {path} ({number}/{len(recordings)}) ...", err=True)
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


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    target = sys.stdout if stream is None else stream
    return bool(getattr(target, "isatty", lambda: False)())


@click.command()
@config_option
@click.option(
    "--admin-user",
    envvar="REDIAL_DOCTOR_USER",
    help="An AMI user with the system and command classes, for the deeper checks (rtp_timeout, "
    "modules, read classes). Its secret comes from $REDIAL_DOCTOR_SECRET or a prompt.",
)
@click.option(
    "--asterisk-etc",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="REDIAL_ASTERISK_ETC",
    help="Asterisk's configuration directory, where pjsip.conf and manager.conf are read "
    "(default: that of the running Asterisk with the configured AMI port, else /etc/asterisk).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.5, 120),
    default=5.0,
    show_default=True,
    help="Seconds to wait for each answer from Asterisk.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a check.")
def doctor(
    config_path: Path | None, admin_user: str | None, asterisk_etc: Path | None, timeout: float, as_json: bool
) -> None:
    """Check the Asterisk side: AMI user, dialplan, queues, rtp_timeout, version, clock.

    Each problem comes with its fix. Exits 1 when a check fails, 0 otherwise.
    """
    from redial.tools.doctor import Admin, Status, diagnose, render, verdict

    # A secret that breaks its rules is reported as a finding, with the rest, not refused.
    secret_problems: list[ConfigError] = []
    settings = settings_or_exit(config_path, secret_problems)
    require_ami_secret(settings)
    admin = None
    if admin_user:
        secret = os.environ.get("REDIAL_DOCTOR_SECRET")
        if secret is None:
            if not sys.stdin.isatty():
                click.echo("redial: --admin-user needs its secret in $REDIAL_DOCTOR_SECRET", err=True)
                sys.exit(2)
            secret = click.prompt(f"AMI secret of {admin_user}", hide_input=True, err=True)
        admin = Admin(admin_user, secret)
    colour = use_colour()
    if not as_json:
        ami = settings.ami
        click.echo(f"redial doctor: Asterisk AMI at {ami.host}:{ami.port} as {ami.username}")
    findings = []
    for finding in diagnose(
        settings, admin=admin, etc_dir=asterisk_etc, timeout=timeout, secret_problems=secret_problems
    ):
        findings.append(finding)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "check": finding.check,
                        "status": finding.status.name.lower(),
                        "summary": finding.summary,
                        "fix": finding.fix,
                    }
                )
            )
        else:
            click.echo(render(finding, colour=colour), color=colour)
    if not as_json:
        click.echo(verdict(findings))
    sys.exit(1 if any(f.status is Status.FAIL for f in findings) else 0)
