"""Checks of the dialplan: the redial context, its greeting, and the returning-caller hook."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redial.tools.doctor.findings import EXTENSIONS_CONF_HINT, Finding, Status


@dataclass(frozen=True, slots=True)
class DialplanLine:
    context: str
    extension: str
    priority: str
    application: str
    data: str


def check_dialplan(context: str, lines: Sequence[DialplanLine] | None) -> Finding:
    """The redial context exists and has the ``s`` extension the Originate enters at."""
    fix = (
        f"copy {EXTENSIONS_CONF_HINT} to /etc/asterisk/, add the line "
        "#include extensions_redial.conf to extensions.conf, then run "
        'asterisk -rx "dialplan reload"'
    )
    if lines is None:
        return Finding("dialplan", Status.FAIL, f"context [{context}] does not exist: every redial would fail", fix)
    if not any(line.extension == "s" for line in lines):
        return Finding(
            "dialplan",
            Status.FAIL,
            f"context [{context}] has no extension s: the Originate enters at s,1",
            fix,
        )
    detail = f"[{context}] has s,1 and {len(lines)} priorities"
    return Finding("dialplan", Status.OK, detail + (" (greeting via U())" if uses_greeting(lines) else ""))


def uses_greeting(lines: Sequence[DialplanLine]) -> bool:
    """Does the redial context play the customer's greeting through Dial's U(redial-greeting) gosub?"""
    return any(line.application == "Dial" and "U(redial-greeting" in line.data for line in lines)


def check_greeting(lines: Sequence[DialplanLine] | None) -> Finding:
    """[redial-greeting] exists (asked only when the redial context uses it)."""
    if lines is None:
        return Finding(
            "dialplan",
            Status.FAIL,
            "[redial-out] plays the greeting through U(redial-greeting), but that context does not "
            "exist: the customer's leg would fail when they answer",
            f'add [redial-greeting] from {EXTENSIONS_CONF_HINT} and run asterisk -rx "dialplan reload"',
        )
    return Finding("dialplan", Status.OK, "[redial-greeting] exists")


def check_returning(lines: Sequence[DialplanLine] | None, host: str, port: int) -> Finding:
    """The returning-caller hook exists and its AGI address is the daemon's FastAGI service."""
    if lines is None:
        return Finding(
            "returning",
            Status.WARN,
            "[redial-returning] does not exist: a customer who calls back after a drop waits in "
            "the queue instead of reaching the same agent",
            f"add [redial-returning] from {EXTENSIONS_CONF_HINT} and call "
            "Gosub(redial-returning,s,1) before Queue() in your inbound context",
        )
    agi = [line.data for line in lines if line.application == "AGI"]
    wanted = f"agi://{host}:{port}/"
    if not any(data.startswith(wanted) for data in agi):
        found = ", ".join(agi) or "no AGI() at all"
        return Finding(
            "returning",
            Status.FAIL,
            f"[redial-returning] asks {found}, but the daemon listens on {wanted}",
            f"make the AGI() line read AGI({wanted}returning) or change fastagi.host/port in the redial configuration",
        )
    if not any("QUEUE_MEMBER_LIST(" in line.data for line in lines):
        return Finding(
            "returning",
            Status.WARN,
            "[redial-returning] rings whatever device the FastAGI answer names, not only a member "
            "of the queue: a process holding the FastAGI port could send callers anywhere",
            f"replace [redial-returning] with the one in {EXTENSIONS_CONF_HINT} (it checks QUEUE_MEMBER_LIST) "
            'and run asterisk -rx "dialplan reload"',
        )
    return Finding("returning", Status.OK, f"[redial-returning] asks the daemon at {wanted}")


def check_queue_callback(offer: Sequence[DialplanLine] | None, host: str, port: int) -> Finding:
    """The queue-callback offer exists and asks the daemon's FastAGI service."""
    return _asks_the_daemon(
        "queue_callback",
        "redial-queue-callback-offer",
        offer,
        f"agi://{host}:{port}/queue-callback",
        "a caller pressing the offer key in a queue with context=redial-queue-callback gets no callback",
        "add the queue-callback contexts",
        "queue_callback.enabled: false",
    )


def check_promise(feature: Sequence[DialplanLine] | None, host: str, port: int) -> Finding:
    """The agents' in-call promise feature (*7) exists and asks the daemon's FastAGI service."""
    return _asks_the_daemon(
        "promise",
        "redial-promise",
        feature,
        f"agi://{host}:{port}/promise",
        "an agent's *7 (config/features_redial.conf) makes no promise",
        "add the promise contexts",
        "promise.enabled: false",
    )


def _asks_the_daemon(
    check: str, context: str, lines: Sequence[DialplanLine] | None, wanted: str, missing: str, add: str, off: str
) -> Finding:
    """``context`` exists and every AGI() in it asks ``wanted``."""
    if lines is None:
        return Finding(
            check,
            Status.WARN,
            f"[{context}] does not exist: {missing}",
            f'{add} from {EXTENSIONS_CONF_HINT} and run asterisk -rx "dialplan reload", or set {off}',
        )
    agi = [line.data for line in lines if line.application == "AGI"]
    if not agi or not all(data.startswith(wanted) for data in agi):
        found = ", ".join(agi) or "no AGI() at all"
        return Finding(
            check,
            Status.FAIL,
            f"[{context}] asks {found}, but the daemon listens on {wanted}",
            f"make its AGI() lines read AGI({wanted},...) or change fastagi.host/port in the redial configuration",
        )
    return Finding(check, Status.OK, f"[{context}] asks the daemon at {wanted}")
