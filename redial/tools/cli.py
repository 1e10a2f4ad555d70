"""The ``redial`` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from redial.config import DEFAULT_CONFIG_PATH, Settings, describe, load_settings, parse_settings
from redial.exceptions import AlreadyRunning, ConfigError, StoreError
from redial.service.logs import configure_logging
from redial.store import Store, StoreLock

T = TypeVar("T")

# sysexits.h EX_CONFIG: systemd's RestartPreventExitStatus keeps a broken config from looping.
EXIT_CONFIG = 78
EXIT_STORE = 74
# sysexits.h EX_TEMPFAIL: another daemon holds the store; systemd may try again later.
EXIT_ALREADY_RUNNING = 75

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


def _require_ami_secret(settings: Settings) -> None:
    """Commands that log in to AMI exit 78 without a secret, naming where one may come from."""
    if not settings.ami.secret:
        click.echo(
            "redial: configuration error: ami.secret: no AMI secret set "
            "(ami.secret, ami.secret_file or REDIAL_AMI_SECRET)",
            err=True,
        )
        sys.exit(EXIT_CONFIG)


@click.group()
@click.version_option(package_name="redial")
def main() -> None:
    """Call back customers whose queue call dropped: the same agent first, off their metrics."""


@main.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground (SIGTERM stops it cleanly)."""
    from redial.service.daemon import run_daemon

    settings = _settings(config_path)
    configure_logging(settings.logging)
    _require_ami_secret(settings)
    try:
        asyncio.run(run_daemon(settings))
    except AlreadyRunning as exc:
        click.echo(f"redial: {exc}", err=True)
        sys.exit(EXIT_ALREADY_RUNNING)
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
    from redial.service.replay import load_frames
    from redial.service.replay import replay as run_replay
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


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _open_store_or_exit(settings: Settings) -> None:
    if not settings.store.path.exists():
        click.echo(f"redial: no store at {settings.store.path} yet: the daemon has recorded nothing", err=True)
        sys.exit(1)


def _read_store(settings: Settings, query: Callable[[Store], Awaitable[T]]) -> T:
    """Run one read against the store, or exit with a clear message."""
    _open_store_or_exit(settings)

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


def _time_option(value: str | None, settings: Settings, name: str) -> float | None:
    from redial.tools.stats import parse_when

    if value is None:
        return None
    try:
        return parse_when(value, time.time(), settings.policy.hours.timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@main.command()
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000), help="How many calls.")
@click.option("--number", help="Only this customer number (as received, or E.164).")
@click.option("--agent", help="Only this agent (interface such as PJSIP/agent1, or member name).")
@click.option("--queue", help="Only this queue.")
@click.option("--outcome", help="Only this redial outcome (connected, ...) or skip reason (normal_end, ...).")
@click.option("--since", help="Ended at or after: 7d, 24h, 30m, or a date/time (policy time zone).")
@click.option("--until", help="Ended before: same forms as --since.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line instead of a table.")
def history(
    config_path: Path | None,
    limit: int,
    number: str | None,
    agent: str | None,
    queue: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Recent ended queue calls, the decision on each, and the redial's outcome."""
    settings = _settings(config_path)
    start = _time_option(since, settings, "--since")
    end = _time_option(until, settings, "--until")
    rows = _read_store(
        settings,
        lambda store: store.history(
            limit, number=number, agent=agent, queue=queue, outcome=outcome, since=start, until=end
        ),
    )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo("no calls recorded yet")
        return
    # 80 columns: the ID leads to `redial show`.
    click.echo(f"{'ID':>5} {'ENDED':16} {'CUSTOMER':12} {'QUEUE':8} {'AGENT':8} {'CAUSE':>5} DECISION/OUTCOME")
    for row in rows:
        decision = "redial" if row["verdict"] == "redial" else f"skip:{row['reason']}"
        result = row["outcome"] or row["redial_state"] or ""
        shown = f"{decision} {result}".strip()
        click.echo(
            f"{row['call_id']:>5} {_when(row['ended_at'])[:16]:16} {row['customer_number'][:12]:12} "
            f"{str(row['queue'])[:8]:8} {str(row['agent_member'] or row['agent_interface'] or '-')[:8]:8} "
            f"{'-' if row['cause'] is None else row['cause']:>5} {shown[:20]}"
        )


EXIT_NOT_RUNNING = 3  # LSB: program is not running


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


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The daemon's answer as JSON.")
def status(config_path: Path | None, as_json: bool) -> None:
    """Is the daemon running and logged in to AMI; what it tracks; its pending redials."""
    settings = _settings(config_path)
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
    click.echo(f"redial is running (pid {snapshot['pid']}) since {_when(snapshot['started_at'])}")
    click.echo(f"AMI {ami['host']}: {state}; {ami['logins']} login(s)")
    click.echo(f"calls tracked: {snapshot['tracked_calls']}; pending redials: {len(snapshot['open_redials'])}")
    for redial in snapshot["open_redials"]:
        click.echo(
            f"  #{redial['redial_id']:<5} {redial['customer'][:14]:14} {str(redial['agent'])[:16]:16} "
            f"{redial['state']:16} due {_when(redial['due_at'])[11:19]}"
        )
    requested = snapshot.get("callbacks_requested") or []
    if requested:
        # Nobody could take these: a person must call the customer back.
        click.echo(f"callbacks requested since start (nobody could take them): {len(requested)}")
        for entry in requested[-10:]:
            click.echo(
                f"  #{entry['redial_id']:<5} {str(entry['customer'])[:14]:14} {str(entry['queue'])[:16]:16} "
                f"at {_when(entry['at'])[11:19]}"
            )


@main.command()
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
    settings = _settings(config_path)
    from urllib.parse import quote

    try:
        answer = _daemon_request(settings, "POST", f"/redials/{redial_id}/cancel?by={quote(who)}")
    except DaemonAnswerError as exc:
        # The daemon holds the redial in memory: a write behind its back would be undone
        # at its due time, and the customer called after all.
        click.echo(f"redial: not cancelled: {exc}", err=True)
        sys.exit(1)
    if answer is not None:
        result = str(answer["result"])
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
            result = _read_store(settings, lambda store: store.cancel_redial(redial_id, who, time.time()))
        finally:
            lock.release()
    click.echo(result)
    if result != f"redial {redial_id} cancelled":
        sys.exit(1)


@main.command()
@config_option
@click.argument("call_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The record as JSON.")
def show(config_path: Path | None, call_id: int, as_json: bool) -> None:
    """The whole timeline of one call (the ID from `redial history`)."""
    settings = _settings(config_path)

    async def query(store: Store) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        call = await store.call_details(call_id)
        rows = await store.history(1, call_id=call_id)
        log = await store.redial_log(rows[0]["redial_id"]) if rows and rows[0]["redial_id"] else []
        return call, rows, log

    call, rows, log = _read_store(settings, query)
    if call is None:
        click.echo(f"redial: no call with ID {call_id}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"call": call, "redial": rows[0] if rows else None, "timeline": log}, sort_keys=True))
        return
    click.echo(f"call {call_id}  linkedid {call['linkedid']}  customer {call['customer_number'] or 'withheld'}")
    click.echo(f"  dialled {call['dialled']} on trunk {call['trunk']}, queue {call['queue']}")
    timeline = [
        (call["joined_at"], f"joined queue {call['queue']}"),
        (call["answered_at"], f"answered by {call['agent_member'] or '-'} ({call['agent_interface'] or '-'})"),
        (call["ended_at"], f"ended by the {call['ended_by']} leg, cause {call['cause']}: {call['classification']}"),
        (call["recorded_at"], f"decision: {call['verdict']} ({call['reason']}): {call['detail']}"),
    ]
    for entry in log:
        outcome = f", outcome {entry['outcome']}" if entry["outcome"] else ""
        timeline.append((entry["at"], f"redial {entry['state']}{outcome}: {entry['detail']}"))
    for when, text in timeline:
        if when is not None:
            click.echo(f"  {_when(when)}  {text}")


@main.command()
@config_option
@click.option("--since", default="7d", show_default=True, help="From: 7d, 24h, 30m, or a date/time.")
@click.option("--until", help="Until (default: now).")
@click.option("--by", type=click.Choice(["queue", "agent", "trunk", "day"]), help="One funnel per group.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def stats(config_path: Path | None, since: str, until: str | None, by: str | None, as_json: bool) -> None:
    """The recovery funnel: answered, abnormal ends, skipped, called back, redialled, connected."""
    from redial.tools.stats import funnel

    settings = _settings(config_path)
    start = _time_option(since, settings, "--since") or 0.0
    end = _time_option(until, settings, "--until") or time.time() + 1
    rows = _read_store(settings, lambda store: store.funnel_rows(start, end))
    groups = funnel(rows, by, settings.policy.hours.timezone)
    if as_json:
        click.echo(json.dumps({k: v.as_dict() for k, v in groups.items()}, sort_keys=True))
        return
    if not groups:
        click.echo("no calls in that period")
        return
    click.echo(
        f"{(by or 'all').upper():14} {'ANSWERED':>8} {'ABNORMAL':>8} {'SKIPPED':>7} {'CALLBACK':>8} "
        f"{'REDIALED':>8} {'CONNECT':>7} {'RATE':>6}"
    )
    for key, stage in groups.items():
        rate = "-" if stage.recovery_rate is None else f"{stage.recovery_rate:.0%}"
        click.echo(
            f"{key[:14]:14} {stage.answered:>8} {stage.abnormal:>8} {sum(stage.skipped.values()):>7} "
            f"{stage.called_back_first:>8} {stage.attempted:>8} {stage.connected:>7} {rate:>6}"
        )
        for reason, count in sorted(stage.skipped.items()):
            click.echo(f"{'':14}   skipped {reason}: {count}")
        if stage.on_call:
            click.echo(f"{'':14}   customer already on a call with an agent: {stage.on_call}")
        if stage.callback_requested:
            click.echo(f"{'':14}   callback requested (nobody could take it): {stage.callback_requested}")


def use_colour(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    target = sys.stdout if stream is None else stream
    return bool(getattr(target, "isatty", lambda: False)())


@main.command()
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

    settings = _settings(config_path)
    _require_ami_secret(settings)
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
    for finding in diagnose(settings, admin=admin, etc_dir=asterisk_etc, timeout=timeout):
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


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
