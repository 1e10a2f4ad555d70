"""The commands that run the daemon or ask it: ``redial run``, ``redial status``, ``redial cancel``."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import click

from redial.config import Settings
from redial.core.jobs import CancelAnswer
from redial.exceptions import AlreadyRunning, ConfigError, ControlSocketError, PortUnavailable, StoreError
from redial.service.logs import configure_logging
from redial.store import StoreLock
from redial.tools.cli_common import (
    EXIT_CONFIG,
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
# sysexits.h EX_CANTCREAT: the control socket cannot be made.
EXIT_CANT_CREATE = 73
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
        if exc.service == "promise_api":
            click.echo(
                f"redial: {exc}. Whoever holds that port would receive the CRM's token, so the daemon does not "
                "start without it: stop that process, or set promise.api.port to a free one",
                err=True,
            )
            sys.exit(EXIT_PORT_UNAVAILABLE)
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
    except ControlSocketError as exc:
        click.echo(f"redial: {exc}", err=True)
        sys.exit(EXIT_CANT_CREATE)
    except ConfigError as exc:
        # Read at the start: the CRM API's token file.
        click.echo(f"redial: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


class DaemonAnswerError(Exception):
    """The daemon's socket answered with an error, refused us, or not in time: it runs, so never go around it.

    ``detail`` is the daemon's own words when it answered with a JSON error (a promise it refused).
    """

    def __init__(self, text: str, detail: str = "") -> None:
        super().__init__(text)
        self.detail = detail or text


class NotListening(Exception):
    """Nothing listens on the control socket (no socket, or nobody accepts): the daemon may not run."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the daemon's control socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _error_of(body: bytes) -> str:
    """The ``error`` of a JSON answer, else "" (a plain-text answer)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data["error"]) if isinstance(data, dict) and "error" in data else ""


def daemon_request(settings: Settings, method: str, path: str, body: dict[str, str] | None = None) -> dict[str, Any]:
    """Ask the running daemon on its control socket (``body`` as JSON); :class:`NotListening` when nothing
    listens there, :class:`DaemonAnswerError` for an answer that is not 200."""
    where = settings.control.socket
    connection = _UnixHTTPConnection(where, timeout=15)
    try:
        connection.connect()
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise NotListening(exc.strerror or str(exc)) from None
    except PermissionError:
        raise DaemonAnswerError(
            f"you may not use the control socket {where}: only root, the daemon's user and members of "
            "the socket's group (control.group) may"
        ) from None
    except OSError as exc:
        raise DaemonAnswerError(f"the control socket {where} did not answer: {exc.strerror or exc}") from None
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if payload is None else {"Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            detail = _error_of(answer)
            text = detail or answer.decode("utf-8", "replace").strip()[:200]
            raise DaemonAnswerError(f"the daemon answered {response.status}: {text or response.reason}", detail)
        data: dict[str, Any] = json.loads(answer)
        return data
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DaemonAnswerError(f"the control socket {where} did not answer: {exc}") from None
    finally:
        connection.close()


def _store_lock_or_holder(settings: Settings) -> StoreLock | str:
    """The store's lock, held (no daemon can start meanwhile), or the message naming the daemon that holds it."""
    lock = StoreLock(settings.store.path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        return str(exc)
    except (OSError, StoreError) as exc:
        click.echo(f"redial: cannot lock the store {settings.store.path}: {exc}", err=True)
        sys.exit(EXIT_STORE)
    return lock


_KIND_LABEL = {"drop_redial": "redial", "queue_callback": "callback", "promised_callback": "promise"}


def _who(comment: str | None) -> str:
    """This process's user (as the daemon would see it over its socket), ``comment`` appended."""
    from redial.service.control import attributed, user_name

    return attributed(user_name(os.geteuid()), comment or "")


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Is the daemon running and logged in to AMI; what it tracks; its pending redials."""
    settings = settings_or_exit(config_path)
    where = settings.control.socket
    try:
        snapshot = daemon_request(settings, "GET", "/status")
    except DaemonAnswerError as exc:
        click.echo(f"redial: {exc}", err=True)
        sys.exit(1)
    except NotListening as exc:
        try:
            holder = StoreLock(settings.store.path).holder()
        except StoreError as error:
            click.echo(f"redial: nothing answers on {where} ({exc}), and {error}", err=True)
            sys.exit(EXIT_STORE)
        if holder is not None:
            click.echo(f"redial is running ({holder}), but its control socket {where} does not answer: {exc}", err=True)
            sys.exit(1)
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
        # A queue callback (and a queue's own promise) has no agent until its turn: its queue is shown.
        kind = _KIND_LABEL.get(str(redial.get("kind")), "redial")
        queued = kind != "redial" and not redial.get("ring_interface") and not redial.get("agent")
        who = f"queue {redial['queue']}" if queued else str(redial["agent"])
        click.echo(
            f"  #{redial['redial_id']:<5} {kind:8} {redial['customer'][:14]:14} "
            f"{who[:16]:16} {redial['state']:16} due {local_time(redial['due_at'])[11:19]}"
        )
        if kind != "redial":
            click.echo(f"         {str(redial.get('detail', ''))[:70]}")
    requested = snapshot.get("callbacks_requested") or []
    if requested:
        # Nobody could take these: a person must call the customer back.
        click.echo(f"callbacks requested since start (nobody could take them): {len(requested)}")
        for entry in requested[-10:]:
            click.echo(
                f"  #{entry['redial_id']:<5} {str(entry['customer'])[:14]:14} {str(entry['queue'])[:16]:16} "
                f"at {local_time(entry['at'])[11:19]}"
            )
    for key, what in (("queue_callbacks_unreached", "queue callbacks"), ("promises_unreached", "promises")):
        unreached = snapshot.get(key) or []
        if unreached:
            # Every attempt failed: kept in sight, never a quiet end.
            click.echo(f"{what} not reached since start: {len(unreached)}")
            for entry in unreached[-10:]:
                owner = f" ({entry['owner']})" if entry.get("owner") else ""
                click.echo(
                    f"  #{entry['redial_id']:<5} {str(entry['customer'])[:14]:14} {str(entry['queue'])[:16]:16} "
                    f"after {entry['attempts']} attempt(s), at {local_time(entry['at'])[11:19]}{owner}"
                )


@click.command()
@config_option
@click.argument("redial_id", type=int)
@click.option(
    "--by",
    "comment",
    default=None,
    help="A comment recorded with the cancel; who cancelled is always your own user.",
)
def cancel(config_path: Path | None, redial_id: int, comment: str | None) -> None:
    """Cancel a pending redial (through the daemon if it runs, else in the store)."""
    settings = settings_or_exit(config_path)
    from urllib.parse import quote

    try:
        answer = daemon_request(settings, "POST", f"/redials/{redial_id}/cancel?comment={quote(comment or '')}")
    except DaemonAnswerError as exc:
        # The daemon holds the redial in memory: a write behind its back would be undone
        # at its due time, and the customer called after all.
        click.echo(f"redial: not cancelled: {exc}", err=True)
        sys.exit(1)
    except NotListening as exc:
        lock = _store_lock_or_holder(settings)
        if isinstance(lock, str):
            click.echo(
                f"redial: not cancelled: a daemon runs ({lock}) but its control socket "
                f"{settings.control.socket} does not answer: {exc}",
                err=True,
            )
            sys.exit(1)
        try:
            # Held across the write: a daemon starting meanwhile would load the redial as pending.
            who = _who(comment)
            result = read_store(settings, lambda store: store.cancel_redial(redial_id, who, time.time()))
        finally:
            lock.release()
    else:
        result = CancelAnswer(answer.get("cancelled") is True, str(answer["result"]))
    click.echo(result.text)
    if not result.cancelled:
        sys.exit(1)
