"""``redial promise``: promise a customer a callback, through the running daemon.

The daemon checks and stores the promise, and it alone: the command only carries the
request over the control socket (made by your own user, as the kernel names it) and
prints the answer. Its id goes alone on stdout (``id=$(redial promise ...)``); the line
for people goes to stderr.
"""

from __future__ import annotations

import datetime as dt
import sys
import zoneinfo
from pathlib import Path
from typing import Any

import click

from redial.config import Settings
from redial.tools.cli_common import config_option, settings_or_exit
from redial.tools.cli_daemon import EXIT_NOT_RUNNING, DaemonAnswerError, NotListening, daemon_request


def described(answer: dict[str, Any], number: str, settings: Settings, now: float) -> str:
    """The promise for people: ``promise 12: 0123 at 14:30 (Europe/Berlin) by Alice in support``.

    The time is in the queue's time zone; a day other than today shows its date.
    """
    queue = str(answer.get("queue") or "")
    zone_name = settings.policy_for(queue or None).hours.timezone
    zone = zoneinfo.ZoneInfo(zone_name)
    due = dt.datetime.fromtimestamp(float(answer["due_at"]), zone)
    today = dt.datetime.fromtimestamp(now, zone).date()
    when = due.strftime("%H:%M") if due.date() == today else due.strftime("%Y-%m-%d %H:%M")
    owner = str(answer.get("agent") or "") or "any agent"
    moved = " (outside business hours: moved to the next opening)" if answer.get("moved_to_opening") else ""
    return f"promise {answer['promise_id']}: {number} at {when} ({zone_name}) by {owner} in {queue or '-'}{moved}"


@click.command()
@config_option
@click.argument("number")
@click.option("--in", "within", metavar="DURATION", help="When, from now: 90s, 30m, 2h.")
@click.option("--at", "at", metavar="TIME", help="When: HH:MM today in the queue's time zone, or ISO 8601.")
@click.option("--agent", metavar="MEMBER_OR_INTERFACE", help="Whose promise (Alice, PJSIP/1001); default the queue's.")
@click.option("--queue", metavar="QUEUE", help="The queue (default: that of the customer's latest call).")
@click.option("--note", metavar="TEXT", help="A note for the agent who calls.")
@click.option("--call", "call", metavar="UNIQUEID", help="The call it follows up (Uniqueid or Linkedid).")
def promise(
    config_path: Path | None,
    number: str,
    within: str | None,
    at: str | None,
    agent: str | None,
    queue: str | None,
    note: str | None,
    call: str | None,
) -> None:
    """Promise NUMBER a callback: its id on stdout, the promise in words on stderr."""
    import time

    if bool(within) == bool(at):
        raise click.UsageError("give exactly one of --in and --at")
    settings = settings_or_exit(config_path)
    fields = {"number": number, "in": within, "at": at, "agent": agent, "queue": queue, "note": note, "call": call}
    body = {name: value for name, value in fields.items() if value}
    try:
        answer = daemon_request(settings, "POST", "/promises", body)
    except DaemonAnswerError as exc:
        click.echo(f"redial: no promise: {exc.detail}", err=True)
        sys.exit(1)
    except NotListening as exc:
        click.echo(
            f"redial: no promise: the daemon is not running (nothing answers on {settings.control.socket}: {exc})",
            err=True,
        )
        sys.exit(EXIT_NOT_RUNNING)
    click.echo(str(answer["promise_id"]))
    click.echo(described(answer, number, settings, time.time()), err=True)
