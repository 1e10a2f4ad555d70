"""AMI actions the daemon sends, built and checked without I/O.

Every value that reaches an AMI header passes a whitelist first: a CR or LF in a
header injects headers or a whole new action, and a comma in a ``Variable`` value
splits it. Values that came from the network (the customer's number, the DID)
only ever travel as whitelisted ``Variable`` values, never in ``Channel`` or
``Data``; the shipped dialplan filters them again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redial.exceptions import UnsafeValueError

CUSTOMER_NUMBER = re.compile(r"\+?[0-9]{3,20}")
DID = re.compile(r"\+?[0-9]{1,20}")
# Endpoint, context, account and queue names: the dialplan re-checks the same class.
TOKEN = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}")
# A queue member interface such as PJSIP/agent1, SIP/200 or Local/200@agents/n.
# Never "&": that would make one Dial ring several targets.
INTERFACE = re.compile(r"[A-Za-z0-9_]{1,16}/[A-Za-z0-9_.@:+-][A-Za-z0-9_.@:+/-]{0,79}")
# A device to Dial on its own (PJSIP/agent1, SIP/200): no @, /, & or options, so never a
# trunk with a number; what the [redial-returning] dialplan accepts as REDIAL_AGENT.
DEVICE = re.compile(r"[A-Za-z0-9]{1,16}/[A-Za-z0-9_-]{1,80}")
# Asterisk Uniqueids (1795354875.10) and our ChannelIds (redial-42-1795354875.10).
UNIQUEID = re.compile(r"[A-Za-z0-9_.-]{1,150}")
# Free text an admin configures (the caller ID name shown to the agent).
LABEL = re.compile(r"[A-Za-z0-9 _.:#*+-]{0,40}")
# Playback() file lists: names without dots (so no ".."), never starting with / (no
# absolute path), joined by &. Each name is checked on its own (SOUND), then the list.
SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}")
SOUNDS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}(&[A-Za-z0-9_][A-Za-z0-9_/-]{0,79}){0,9}")
# queue_log verbs and their data fields.
VERB = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
LOG_FIELD = re.compile(r"[A-Za-z0-9 _.:@/+-]{0,80}")

ActionValue = str | Sequence[str]
Action = dict[str, ActionValue]


def sound_list(names: Sequence[str], what: str) -> str:
    """``names`` joined by & for Playback(), each checked as one sound name; else UnsafeValueError naming it."""
    for name in names:
        checked(SOUND, name, what)
    return checked(SOUNDS, "&".join(names), what)


def checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    """``value`` when it fully matches ``pattern``; else UnsafeValueError naming ``what``."""
    if not pattern.fullmatch(value):
        raise UnsafeValueError(f"{what} {value!r} is not allowed in an AMI action")
    return value


def is_dialable(number: str) -> bool:
    """True for a number the daemon may dial: digits, one optional leading +, 3 to 20 digits."""
    return CUSTOMER_NUMBER.fullmatch(number) is not None


# What would end a header line (or the C string behind it) early.
_LINE_BREAK_OR_NUL = re.compile("[\r\n\0]")


def assert_header_safe(action: Mapping[str, ActionValue]) -> None:
    """Last line of defence before bytes hit the socket: no CR, LF or NUL anywhere."""
    unsafe = _LINE_BREAK_OR_NUL.search
    for key, value in action.items():
        values = [value] if isinstance(value, str) else list(value)
        for item in (key, *values):
            if unsafe(item) is not None:
                raise UnsafeValueError(f"AMI header {key!r} holds a line break or NUL")


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """Everything one redial's Originate needs; validated by :func:`originate_action`."""

    redial_id: int
    channel_id: str
    agent_interface: str
    customer_number: str
    trunk: str
    did: str
    original_uniqueid: str
    queue: str
    context: str
    account: str
    caller_id_name: str
    agent_ring_timeout: int
    customer_ring_timeout: int
    agent_prompt: tuple[str, ...] = ()
    customer_greeting: tuple[str, ...] = ()
    # The number shown to the customer; "" shows nothing in particular.
    show_number: str = ""
    agent_name: str = ""
    # The dialplan context the customer is dialled through (Local/<number>@<context>,
    # the admin's outbound routes); "" dials them on ``trunk`` (originate.customer_route).
    route_context: str = ""
    # A queue callback: the CDR's tag, the customer's "press 1" (connected only once they
    # press it, within press_timeout s, asked three times), and the agent's whisper around
    # the minutes since the request.
    callback: bool = False
    customer_press: tuple[str, ...] = ()
    press_timeout: int = 5
    agent_after: tuple[str, ...] = ()
    waited_minutes: int | None = None
    # A promised callback: the CDR's tag, and the whisper after agent_prompt: whose promise
    # (a recording of the owner's name, or the name spelled), then note_sound if it has a note.
    promise: bool = False
    owner_name: str = ""
    owner_sound: str = ""
    note_sound: tuple[str, ...] = ()


def originate_action(request: OriginateRequest, action_id: str) -> Action:
    """The Originate that rings the agent's own interface, then runs the redial context.

    Never through Queue(): app_queue's member statistics stay untouched.
    ``Async: true`` always (panoramisk raises inside data_received without it), and
    ``ChannelId`` is the idempotency key: Asterisk refuses a second channel with it.
    """
    number = checked(CUSTOMER_NUMBER, request.customer_number, "customer number")
    variables = [
        f"REDIAL_ID={request.redial_id}",
        f"REDIAL_ORIGINAL_UNIQUEID={checked(UNIQUEID, request.original_uniqueid, 'uniqueid')}",
        f"REDIAL_NUMBER={number}",
    ]
    if request.route_context:
        # Dialled through the admin's routes: the trunk is not needed, only passed on when clean.
        variables.append(f"REDIAL_ROUTE_CONTEXT={checked(TOKEN, request.route_context, 'route context')}")
        if TOKEN.fullmatch(request.trunk):
            variables.append(f"REDIAL_TRUNK={request.trunk}")
    else:
        variables.append(f"REDIAL_TRUNK={checked(TOKEN, request.trunk, 'trunk')}")
    variables.append(f"REDIAL_RING_TIMEOUT={int(request.customer_ring_timeout)}")
    if DID.fullmatch(request.did):
        variables.append(f"REDIAL_DID={request.did}")
    if DID.fullmatch(request.show_number):
        variables.append(f"REDIAL_SHOW_NUMBER={request.show_number}")
    if TOKEN.fullmatch(request.queue):
        variables.append(f"REDIAL_QUEUE={request.queue}")
    if request.agent_name and LABEL.fullmatch(request.agent_name):
        variables.append(f"REDIAL_AGENT_NAME={request.agent_name}")
    if request.agent_prompt:
        variables.append(f"REDIAL_AGENT_PROMPT={sound_list(request.agent_prompt, 'agent prompt')}")
    if request.customer_greeting:
        variables.append(f"REDIAL_GREETING={sound_list(request.customer_greeting, 'customer greeting')}")
    if request.callback:
        variables += [
            "REDIAL_KIND=callback",
            "REDIAL_CONFIRM=1",
            f"REDIAL_PRESS_TIMEOUT={int(request.press_timeout)}",
        ]
        if request.customer_press:
            variables.append(f"REDIAL_PRESS_PROMPT={sound_list(request.customer_press, 'press prompt')}")
        if request.waited_minutes is not None:
            variables.append(f"REDIAL_WAITED_MINUTES={max(0, int(request.waited_minutes))}")
        if request.agent_after:
            variables.append(f"REDIAL_AGENT_AFTER={sound_list(request.agent_after, 'agent whisper')}")
    if request.promise:
        variables += _promise_variables(request)
    name = checked(LABEL, request.caller_id_name, "caller ID name")
    action: Action = {
        "Action": "Originate",
        "ActionID": checked(UNIQUEID, action_id, "action id"),
        "Channel": checked(INTERFACE, request.agent_interface, "agent interface"),
        "Context": checked(TOKEN, request.context, "context"),
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(request.agent_ring_timeout) * 1000),
        "CallerID": f'"{name} {number}" <{number}>' if name else number,
        "Account": checked(TOKEN, request.account, "account"),
        "Async": "true",
        "ChannelId": checked(UNIQUEID, request.channel_id, "channel id"),
        "Variable": variables,
    }
    assert_header_safe(action)
    return action


def _promise_variables(request: OriginateRequest) -> list[str]:
    variables = ["REDIAL_KIND=promise"]
    if request.owner_name and LABEL.fullmatch(request.owner_name):
        variables.append(f"REDIAL_OWNER_NAME={request.owner_name}")
    if request.owner_sound:
        variables.append(f"REDIAL_OWNER_SOUND={sound_list((request.owner_sound,), 'owner name sound')}")
    if request.note_sound:
        variables.append(f"REDIAL_NOTE_SOUND={sound_list(request.note_sound, 'note sound')}")
    return variables


def queue_log_action(queue: str, interface: str, uniqueid: str, verb: str, fields: Sequence[str]) -> Action:
    """A line for Asterisk's queue_log (``time|uniqueid|queue|interface|verb|fields...``).

    Fields that fail the whitelist are written as ``-`` rather than dropping the line.
    """
    data = "|".join(f if LOG_FIELD.fullmatch(f) else "-" for f in fields)
    action: Action = {
        "Action": "QueueLog",
        "Queue": queue if TOKEN.fullmatch(queue) else "NONE",
        "Event": checked(VERB, verb, "queue_log verb"),
        "Uniqueid": uniqueid if UNIQUEID.fullmatch(uniqueid) else "NONE",
        "Interface": interface if INTERFACE.fullmatch(interface) else "NONE",
        "Message": data,
    }
    assert_header_safe(action)
    return action


def pause_action(interface: str, paused: bool, reason: str) -> Action:
    """QueuePause for ``interface`` in all its queues; the reason only when pausing."""
    action: Action = {
        "Action": "QueuePause",
        "Interface": checked(INTERFACE, interface, "agent interface"),
        "Paused": "true" if paused else "false",
    }
    if paused:
        action["Reason"] = checked(TOKEN, reason, "pause reason")
    assert_header_safe(action)
    return action


def extension_state_action(exten: str, context: str) -> Action:
    """ExtensionState for ``exten@context``: its reply names the devices of the hint."""
    action: Action = {
        "Action": "ExtensionState",
        "Exten": checked(TOKEN, exten, "hint extension"),
        "Context": checked(TOKEN, context, "hint context"),
    }
    assert_header_safe(action)
    return action


def challenge_action() -> Action:
    """The first half of the MD5 login: Asterisk answers with ``Challenge: <nonce>``."""
    return {"Action": "Challenge", "AuthType": "MD5"}


def login_action(username: str, challenge: str, secret: str, events: str) -> Action:
    """The MD5 login answering ``challenge``: the secret itself never goes on the wire.

    ``Key`` is md5(challenge + secret) in lower-case hex, as manager.c's authenticate() computes it.
    """
    key = hashlib.md5((challenge + secret).encode("utf-8"), usedforsecurity=False).hexdigest()
    action: Action = {"Action": "Login", "AuthType": "MD5", "Username": username, "Key": key, "Events": events}
    assert_header_safe(action)
    return action
