"""The commands that read what the daemon recorded: ``redial history``, ``redial show``, ``redial stats``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from redial.config import Settings
from redial.store import Store
from redial.tools.cli_common import config_option, local_time, read_store, settings_or_exit

if TYPE_CHECKING:
    from redial.tools.stats import CallbackFunnel, Funnel


def _time_option(value: str | None, settings: Settings, name: str) -> float | None:
    from redial.tools.stats import parse_when

    if value is None:
        return None
    try:
        return parse_when(value, time.time(), settings.policy.hours.timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@click.command()
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
    settings = settings_or_exit(config_path)
    start = _time_option(since, settings, "--since")
    end = _time_option(until, settings, "--until")
    rows = read_store(
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
        # A drop redialled, a queue callback requested, a promise made; else why not.
        decision = row["verdict"] if row["verdict"] in ("redial", "callback", "promise") else f"skip:{row['reason']}"
        result = row["outcome"] or row["redial_state"] or ""
        shown = f"{decision} {result}".strip()
        click.echo(
            f"{row['call_id']:>5} {local_time(row['ended_at'])[:16]:16} {row['customer_number'][:12]:12} "
            f"{str(row['queue'])[:8]:8} {str(row['agent_member'] or row['agent_interface'] or '-')[:8]:8} "
            f"{'-' if row['cause'] is None else row['cause']:>5} {shown[:20]}"
        )


@click.command()
@config_option
@click.argument("call_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The record as JSON.")
def show(config_path: Path | None, call_id: int, as_json: bool) -> None:
    """The whole timeline of one call (the ID from `redial history`)."""
    settings = settings_or_exit(config_path)

    async def query(store: Store) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        call = await store.call_details(call_id)
        rows = await store.history(1, call_id=call_id)
        log = await store.redial_log(rows[0]["redial_id"]) if rows and rows[0]["redial_id"] else []
        return call, rows, log

    call, rows, log = read_store(settings, query)
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
            click.echo(f"  {local_time(when)}  {text}")


@click.command()
@config_option
@click.option("--since", default="7d", show_default=True, help="From: 7d, 24h, 30m, or a date/time.")
@click.option("--until", help="Until (default: now).")
@click.option("--by", type=click.Choice(["queue", "agent", "trunk", "day"]), help="One funnel per group.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def stats(config_path: Path | None, since: str, until: str | None, by: str | None, as_json: bool) -> None:
    """The recovery funnel, and the queue-callback and promise funnels per queue.

    Drops: answered, abnormal ends, skipped, called back, redialled, connected. Queue callbacks
    requested in the period: offered, accepted, served, reached, unreached, cancelled, pending,
    and the wait from request to callback. Promises made in the period: kept, late, unreached,
    called back, pending; with --by agent, per owner and who kept them."""
    from redial.tools.promise_stats import agent_lines, funnel_lines, promise_funnel, promises_by_agent
    from redial.tools.stats import callback_funnel, funnel

    settings = settings_or_exit(config_path)
    start = _time_option(since, settings, "--since") or 0.0
    end = _time_option(until, settings, "--until") or time.time() + 1

    async def query(store: Store) -> tuple[list[dict[str, Any]], ...]:
        return (
            await store.funnel_rows(start, end),
            await store.callback_offer_rows(start, end),
            await store.callback_job_rows(start, end),
            await store.promise_rows(start, end),
        )

    rows, offers, jobs, promised = read_store(settings, query)
    groups = funnel(rows, by, settings.policy.hours.timezone)
    callbacks = callback_funnel(offers, jobs)
    promises = promise_funnel(promised)
    by_agent = promises_by_agent(promised) if by == "agent" else {}
    if as_json:
        # The drop funnel's groups as before; the callback and promise funnels under their own keys.
        output: dict[str, Any] = {k: v.as_dict() for k, v in groups.items()}
        output["queue_callbacks"] = {k: v.as_dict() for k, v in callbacks.items()}
        output["promises"] = {k: v.as_dict() for k, v in promises.items()}
        if by == "agent":
            output["promises_by_agent"] = {k: v.as_dict() for k, v in by_agent.items()}
        click.echo(json.dumps(output, sort_keys=True))
        return
    if not groups:
        click.echo("no calls in that period")
    else:
        _print_funnel(groups, by)
    if callbacks:
        _print_callback_funnel(callbacks)
    if promises:
        click.echo("\n" + "\n".join(funnel_lines(promises)))
    if by_agent:
        click.echo("\n" + "\n".join(agent_lines(by_agent)))


def _print_funnel(groups: dict[str, Funnel], by: str | None) -> None:
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


def _print_callback_funnel(callbacks: dict[str, CallbackFunnel]) -> None:
    """One line per queue with callback activity, then what the columns leave out."""
    from redial.tools.stats import format_seconds

    click.echo("")
    click.echo("queue callbacks")
    click.echo(
        f"{'QUEUE':14} {'OFFERED':>7} {'NO OFFER':>8} {'ACCEPTED':>8} {'SERVED':>6} {'REACHED':>7} "
        f"{'UNREACHED':>9} {'CANCEL':>6} {'PENDING':>7}"
    )
    for queue, stage in callbacks.items():
        click.echo(
            f"{queue[:14]:14} {stage.offered:>7} {sum(stage.not_offered.values()):>8} {stage.accepted:>8} "
            f"{stage.served:>6} {stage.reached:>7} {stage.unreached:>9} {stage.cancelled:>6} {stage.pending:>7}"
        )
        for reason, count in sorted(stage.not_offered.items()):
            click.echo(f"{'':14}   not offered ({reason[:40]}): {count}")
        if stage.merged:
            click.echo(f"{'':14}   merged into a pending request: {stage.merged}")
        if stage.number_refused:
            click.echo(f"{'':14}   number refused: {stage.number_refused}")
        for outcome, count in sorted(stage.ended_otherwise.items()):
            click.echo(f"{'':14}   ended {outcome}: {count}")
        if stage.wait_median is not None and stage.wait_p90 is not None:
            click.echo(
                f"{'':14}   request to callback: median {format_seconds(stage.wait_median)}, "
                f"90th percentile {format_seconds(stage.wait_p90)}"
            )
