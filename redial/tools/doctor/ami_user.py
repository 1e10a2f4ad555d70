"""Checks of the daemon's AMI user: the actions it may send, the events it reads, its eventfilter lines.

An action needs any one of the write classes Asterisk registered it with (manager.c
runs it when ``writeperm & authority``, or when its authority is 0). The daemon's
actions need only originate, agent and reporting (Asterisk 22's registrations):

    Login, Challenge, Ping, QueueStatus      none
    Originate                                originate
    QueuePause, QueueLog                     agent (app_queue)
    CoreShowChannels, CoreStatus             system or reporting
    Status                                   system, call or reporting
    ExtensionState                           call or reporting
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from redial.tools.doctor.findings import MANAGER_CONF_HINT, Finding, Status

# The actions the daemon sends, with the write class each needs (ListCommands says).
NEEDED_ACTIONS: Mapping[str, str] = {
    "Originate": "originate",
    "QueuePause": "agent",
    "QueueLog": "agent",
    "CoreShowChannels": "reporting",
    "ExtensionState": "reporting",
    "CoreStatus": "reporting",
    "Status": "reporting",
    "QueueStatus": "none",
    "Ping": "none",
}
NEEDED_WRITE = "originate,agent,reporting"
# Actions Asterisk 22 registers with one write class only: in ListCommands, each proves
# its class (ListCommands lists exactly the actions the session may send).
CLASS_MARKERS: Mapping[str, str] = {
    "Command": "command",
    "UpdateConfig": "config",
    "ModuleLoad": "system",
    "Redirect": "call",
    "UserEvent": "user",
    "AOCMessage": "aoc",
    "MessageSend": "message",
}
# Classes that run shell commands (Originate of System(), Command) or rewrite Asterisk's files.
DANGEROUS_WRITE = ("command", "config", "system")
# The event classes the daemon reads.
NEEDED_READ = ("call", "agent")


def check_permissions(username: str, allowed: Iterable[str]) -> Finding:
    """Every action the daemon sends must be in the user's ListCommands."""
    present = set(allowed)
    missing = [(action, cls) for action, cls in NEEDED_ACTIONS.items() if action not in present]
    if not missing:
        return Finding("permissions", Status.OK, f"{username} may send {', '.join(NEEDED_ACTIONS)}")
    classes = sorted({cls for _, cls in missing if cls != "none"})
    names = ", ".join(action for action, _ in missing)
    return Finding(
        "permissions",
        Status.FAIL,
        f"{username} may not send {names}",
        f"in manager.conf give [{username}] write = {NEEDED_WRITE}"
        f" (missing: {', '.join(classes) or 'none'}), as in {MANAGER_CONF_HINT}; "
        'then asterisk -rx "manager reload"',
    )


def check_write_classes(username: str, allowed: Iterable[str]) -> Finding:
    """The user may send nothing beyond what the daemon sends: its ListCommands shows no other class."""
    present = set(allowed)
    extra = sorted({cls for action, cls in CLASS_MARKERS.items() if action in present})
    if not extra:
        return Finding("write", Status.OK, f"{username} holds no write class beyond {NEEDED_WRITE}")
    dangerous = [cls for cls in extra if cls in DANGEROUS_WRITE]
    what = (
        "with which whoever learns its secret runs shell commands or rewrites Asterisk's configuration"
        if dangerous
        else "which lets whoever learns its secret redirect or hang up calls and more"
    )
    return Finding(
        "write",
        Status.FAIL if dangerous else Status.WARN,
        f"{username} holds the write classes {', '.join(extra)}, which the daemon never needs, {what}",
        f"in manager.conf give [{username}] write = {NEEDED_WRITE} (nothing more), as in {MANAGER_CONF_HINT}; "
        'then asterisk -rx "manager reload"',
    )


_TRUE = ("yes", "true", "y", "t", "1", "on")


def check_clear_logins(manager_general: Mapping[str, str], http_general: Mapping[str, str], source: str) -> Finding:
    """AMI over HTTP (manager.conf webenabled with http.conf enabled) takes logins with the secret in clear.

    redial logs in over the TCP port with the MD5 challenge; the HTTP interface is
    one more way in whose logins (``/rawman?action=login&secret=...``) travel in clear
    unless served over TLS only.
    """
    web = manager_general.get("webenabled", "no").strip().lower() in _TRUE
    http = http_general.get("enabled", "no").strip().lower() in _TRUE
    if not (web and http):
        return Finding("logins", Status.OK, f"AMI takes logins only on its TCP port, where redial uses MD5 ({source})")
    return Finding(
        "logins",
        Status.WARN,
        f"AMI over HTTP is on (webenabled = yes, http.conf enabled = yes; {source}): its logins carry "
        "the secret in clear, in the URL, and redial never uses them",
        "in manager.conf [general] set webenabled = no unless something needs AMI over HTTP (then "
        'serve it over TLS only); then asterisk -rx "manager reload"',
    )


def check_read_classes(username: str, read: Iterable[str]) -> Finding:
    """The user's read classes (from ``manager show user``) must cover the events the daemon reads."""
    have = {item.strip() for item in read}
    missing = [cls for cls in NEEDED_READ if cls not in have and "all" not in have]
    if not missing:
        return Finding("events", Status.OK, f"{username} reads {', '.join(NEEDED_READ)} events")
    return Finding(
        "events",
        Status.FAIL,
        f"{username} cannot read {', '.join(missing)} events: drops would never be seen",
        f'in manager.conf give [{username}] read = call,agent; then asterisk -rx "manager reload"',
    )


_FILTER_KEY = re.compile(r"^eventfilter\((.*)\)$")
_FILTER_OPTION = re.compile(r"(\w+)\(([^()]*)\)")


def check_event_filters(username: str, values: Mapping[str, str], needed: frozenset[str], source: str) -> Finding:
    """The user's eventfilter lines pass every event the daemon reads, and hold back the rest.

    Only the ``eventfilter(name(X))`` form (with ``action(exclude)`` or not) is
    judged; filters on headers or the legacy regex form are reported, not evaluated.
    """
    included: set[str] = set()
    excluded: set[str] = set()
    other = 0
    for key in values:
        if key == "eventfilter":
            other += 1
            continue
        match = _FILTER_KEY.match(key)
        if match is None:
            continue
        options = dict(_FILTER_OPTION.findall(match.group(1)))
        name = options.pop("name", None)
        action = options.pop("action", "include")
        if name is None or options:
            other += 1
        elif action == "exclude":
            excluded.add(name)
        else:
            included.add(name)
    fix_lines = f"copy the eventfilter lines of [redial] in {MANAGER_CONF_HINT} to [{username}]"
    blocked = sorted((needed - included) if included else set()) + sorted(needed & excluded)
    if blocked:
        return Finding(
            "eventfilter",
            Status.FAIL,
            f"the eventfilter lines of [{username}] hold back {', '.join(blocked)}, which the daemon "
            f"needs ({source}): calls would end unseen",
            fix_lines + ', then asterisk -rx "manager reload"',
        )
    if not included and not excluded and not other:
        return Finding(
            "eventfilter",
            Status.WARN,
            f"[{username}] has no eventfilter lines ({source}): Asterisk sends the daemon about twice "
            "the events it needs (28 instead of 15 a queue call), all parsed on the PBX's own CPU",
            fix_lines + ', then asterisk -rx "manager reload"',
        )
    if other and not included:
        return Finding("eventfilter", Status.OK, f"[{username}] has eventfilter lines, not evaluated ({source})")
    return Finding(
        "eventfilter", Status.OK, f"[{username}] lets through the {len(needed)} events the daemon reads ({source})"
    )
