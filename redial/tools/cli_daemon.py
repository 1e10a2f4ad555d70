"""The commands that run the daemon or ask it: ``redial run``, ``redial status``, ``redial cancel``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from redial.config import Settings
from redial.core.jobs import CancelAnswer
from redial.exceptions import AlreadyRunning, PortUnavailable, StoreError
from redial.service.logs import configure_logging
from redial.store import StoreLock
from redial.tools.cli_common import (
    EXIT_STORE,
    config_option,
    local_time,
    read_store,
    require_ami_secret,
    settings_or_exit,
)

# sysexits.h EX_TEMPFAIL: another daemon holds the store; systemd may try again later.
EXIT_ALREADY_RUNNING = 75
EXIT_NOT_RUNNING = 3  # LSB: program is not running
# sysexits.h EX_UNAVAILABLE: the FastAGI port is held by another process; systemd tries again.
EXIT_PORT_UNAVAILABLE = 69


@click.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground (SIGTERM stops it cleanly)."""
    from redial.service.daemon import run_daemon

    settings = settings_or_exit(config_path)
    configure_logging(settings.logging)
    require_ami_secret(settings)
    try:
        asyncio.run(run_daemon(settings))
    except AlreadyRunning as exc:
        click.echo(f"redial: {exc}", err=True)
        sys.exit(EXIT_ALREADY_RUNNING)
    except PortUnavailable as exc:
        click.echo(
            f"redial: {exc}. Whoever holds that port receives every inbound call's AGI session, so the daemon "
            f"does not start without it: stop that process (ss -ltnp 'sport = :{exc.port}' shows it), or let "
            "systemd hold the port (redial-agi.socket), or turn the service off (fastagi.enabled: false) and "
            "remove the Gosub(redial-returning,s,1) hook from the inbound dialplan",
            err=True,
        )
        sys.exit(EXIT_PORT_UNAVAILABLE)
    except StoreError as exc:
        click.echo(f"redial: store error: {exc}", err=True)
        sys.exit(EXIT_STORE)


class DaemonAnswerError(Exception):
    """The daemon's endpoint answered with an error, or not in time: it runs, so never go around it."""


def _daemon_request(settings: Settings, method: str, path: str) -> dict[str, Any] | None:
    """Ask the running daemon on its loopback endpoint; None only when nothing listens there."""
    import urllib.error
    import urllib.request

    url = f"http://{settings.status.host}:{settings.status.port}{path}"
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace").strip()[:200]
        raise DaemonAnswerError(f"the daemon answered {exc.code}: {body or exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return None
        raise DaemonAnswerError(f"the daemon's endpoint {url} did not answer: {exc.reason}") from None
    except ConnectionRefusedError:
        return None
    except (ConnectionError, TimeoutError, ValueError) as exc:
        raise DaemonAnswerError(f"the daemon's endpoint {url} did not answer: {exc}") from None


def _store_lock_or_holder(settings: Settings) -> StoreLock | str:
    """The store's lock, held (no daemon can start meanwhile), or the message naming the daemon that holds it."""
    lock = StoreLock(settings.store.path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        return str(exc)
    except OSError as exc:
        click.echo(f"redial: cannot lock the store {settings.store.path}: {exc}", err=True)
        sys.exit(EXIT_STORE)
    return lock


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Is the daemon running and logged in to AMI; what it tracks; its pending redials."""
    settings = settings_or_exit(config_path)
    try:
        snapshot = _daemon_request(settings, "GET", "/status")
    except DaemonAnswerError as exc:
        click.echo(f"redial is running, but {exc}", err=True)
        sys.exit(1)
    if snapshot is None:
        where = f"{settings.status.host}:{settings.status.port}"
        click.echo(f"redial is not running (nothing answers on {where})")
        sys.exit(EXIT_NOT_RUNNING)
    if as_json:
        click.echo(json.dumps(snapshot, sort_keys=True))
        return
    ami = snapshot["ami"]
    state = "logged in" if ami["logged_in"] else "NOT logged in (reconnecting)"
    click.echo(f"redial is running (pid {snapshot['pid']}) since {local_time(snapshot['started_at'])}")
    click.echo(f"AMI {ami['host']}: {state}; {ami['logins']} login(s)")
    click.echo(f"calls tracked: {snapshot['tracked_calls']}; pending redials: {len(snapshot['open_redials'])}")
    for redial in snapshot["open_redials"]:
        click.echo(
            f"  #{redial['redial_id']:<5} {redial['customer'][:14]:14} {str(redial['agent'])[:16]:16} "
            f"{redial['state']:16} due {local_time(redial['due_at'])[11:19]}"
        )
    requested = snapshot.get("callbacks_requested") or []
    if requested:
        # Nobody could take these: a person must call the customer back.
        click.echo(f"callbacks requested since start (nobody could take them): {len(requested)}")
        for entry in requested[-10:]:
            click.echo(
                f"  #{entry['redial_id']:<5} {str(entry['customer'])[:14]:14} {str(entry['queue'])[:16]:16} "
                f"at {local_time(entry['at'])[11:19]}"
            )


@click.command()
@config_option
@click.argument("redial_id", type=int)
@click.option(
    "--by",
    "who",
    default=lambda: os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown",
    help="Who asks (recorded with the cancel; default: your user name).",
)
def cancel(config_path: Path | None, redial_id: int, who: str) -> None:
    """Cancel a pending redial (through the daemon if it runs, else in the store)."""
    settings = settings_or_exit(config_path)
    from urllib.parse import quote

    try:
        answer = _daemon_request(settings, "POST", f"/redials/{redial_id}/cancel?by={quote(who)}")
    except DaemonAnswerError as exc:
        # The daemon holds the redial in memory: a write behind its back would be undone
        # at its due time, and the customer called after all.
        click.echo(f"redial: not cancelled: {exc}", err=True)
        sys.exit(1)
    if answer is not None:
        result = CancelAnswer(answer.get("cancelled") is True, str(answer["result"]))
    else:
        lock = _store_lock_or_holder(settings)
        if isinstance(lock, str):
            click.echo(
                f"redial: not cancelled: a daemon runs ({lock}) but its control endpoint "
                f"{settings.status.host}:{settings.status.port} does not answer",
                err=True,
            )
            sys.exit(1)
        try:
            # Held across the write: a daemon starting meanwhile would load the redial as pending.
            result = read_store(settings, lambda store: store.cancel_redial(redial_id, who, time.time()))
        finally:
            lock.release()
    click.echo(result.text)
    if not result.cancelled:
        sys.exit(1)
