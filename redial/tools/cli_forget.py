"""``redial forget NUMBER``: erase one customer's number from the store."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import phonenumbers

from redial.config import Settings
from redial.exceptions import AlreadyRunning
from redial.policy.numbers import customer_key
from redial.store import Store, StoreLock
from redial.store.erase import Erased
from redial.tools.cli_common import EXIT_STORE, config_option, read_store, require_store, settings_or_exit

_SEPARATORS = str.maketrans("", "", " -.()/")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def number_forms(number: str, settings: Settings) -> tuple[set[str], str]:
    """The E.164 key ``number`` stands for (none if it is too short to name a customer) and its digits."""
    rules = settings.policy.numbers
    cleaned = number.strip().translate(_SEPARATORS)
    if not _NUMBER.fullmatch(cleaned):
        raise click.BadParameter(
            f"{number!r} is not a phone number (digits, an optional leading +, separators such as spaces or -)",
            param_hint="NUMBER",
        )
    key = customer_key(cleaned, rules)
    if rules.dial_prefixes and not _valid(key):
        # Typed as an agent dials it, with the outside-line prefix: only then is the prefix
        # taken off, never from a valid number that happens to start with its digit.
        dialled = customer_key(cleaned, rules, rules.dial_prefixes)
        if _valid(dialled):
            key = dialled
    return ({key} if key else set()), cleaned


def _valid(key: str) -> bool:
    try:
        return bool(key) and phonenumbers.is_valid_number(phonenumbers.parse(key))
    except phonenumbers.NumberParseException:
        return False


async def _forget(store: Store, settings: Settings, keys: set[str], cleaned: str) -> Erased:
    rules = settings.policy.numbers
    raw = {cleaned}
    if keys:
        # Stored numbers in any other form (national, +, 00...) are this customer's if
        # they name the same E.164 number.
        for stored in await store.stored_numbers():
            # Stored numbers are caller IDs and dial forms: no outside-line prefix to take off.
            if stored not in raw and customer_key(stored, rules) in keys:
                raw.add(stored)
    return await store.forget_number(keys, raw)


@click.command()
@config_option
@click.argument("number")
def forget(config_path: Path | None, number: str) -> None:
    """Erase a customer's number from the store: their calls, callback jobs and job logs.

    NUMBER matches in any form: national, +E.164, 00-international, or with an
    outside-line prefix (policy.numbers). The daemon must be stopped: it may hold
    an open redial for the number in memory.
    """
    settings = settings_or_exit(config_path)
    keys, cleaned = number_forms(number, settings)
    require_store(settings)
    lock = StoreLock(settings.store.path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        click.echo(
            f"redial: nothing forgotten: {exc}. The daemon may hold an open redial for this number; "
            "stop it (systemctl stop redial), run forget, then start it again",
            err=True,
        )
        sys.exit(1)
    except OSError as exc:
        click.echo(f"redial: cannot lock the store {settings.store.path}: {exc}", err=True)
        sys.exit(EXIT_STORE)
    try:
        # Held across the write: a daemon starting meanwhile would load the number's open jobs.
        erased = read_store(settings, lambda store: _forget(store, settings, keys, cleaned))
    finally:
        lock.release()
    shown = ", ".join(sorted(keys)) or cleaned
    if erased.held:
        agents = ", ".join(f"redial {job_id} ({interface})" for job_id, interface in erased.held)
        click.echo(
            f"redial: nothing forgotten: {agents} still holds an agent paused in the queues. "
            "Start the daemon once so it releases the agent, stop it, and run forget again",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"forgot {shown}: {erased.calls} call(s), {erased.jobs} callback job(s), "
        f"{erased.log_entries} job log entr{'y' if erased.log_entries == 1 else 'ies'} removed"
    )
