"""What the PBX has at each login: the channels alive, the queue members, when Asterisk started.

The daemon missed every event while the link was down; after each login
:class:`~redial.ami.connection.AmiLink` asks for this state and hands it to the
core with the login (LinkUp). Each function sends its actions through ``send``
(the link's own, with its timeout and its refusal as
:class:`~redial.exceptions.AmiRefused`) and reads the replies.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from redial.ami import events as ev
from redial.ami.actions import Action
from redial.exceptions import AmiRefused

__all__ = ["SendAction", "live_channels", "pbx_started", "queue_members"]


class SendAction(Protocol):
    """Sends one action and returns its reply (a list of messages for ``as_list``)."""

    async def __call__(self, action: Action, *, as_list: bool = ...) -> Any: ...


async def live_channels(send: SendAction) -> tuple[ev.LiveChannel, ...]:
    """Every channel alive on the PBX (CoreShowChannels), with the DID of those in a queue."""
    reply = await send({"Action": "CoreShowChannels"}, as_list=True)
    messages = reply if isinstance(reply, list) else [reply]
    found = (ev.live_channel(m) for m in messages if m.get("Event") == "CoreShowChannel")
    channels = tuple(c for c in found if c is not None)
    if not any(c.application.lower() == "queue" for c in channels):
        return channels
    # Queue calls are up (taken up if the daemon does not follow them yet): their
    # DIDs come from Status (DNID), which CoreShowChannels does not carry.
    reply = await send({"Action": "Status"}, as_list=True)
    statuses = reply if isinstance(reply, list) else [reply]
    dnids = {str(m.get("Uniqueid")): str(m.get("DNID") or "") for m in statuses if m.get("Event") == "Status"}
    return tuple(dataclasses.replace(c, dialled=dnids.get(c.ref.uniqueid, "")) for c in channels)


async def pbx_started(send: SendAction) -> str:
    """When Asterisk started (CoreStatus), to notice a restart between logins; "" if not told."""
    try:
        reply = await send({"Action": "CoreStatus"})
    except AmiRefused:
        return ""  # a user without the reporting class: restarts go unnoticed
    if not hasattr(reply, "get"):
        return ""
    return f"{reply.get('CoreStartupDate', '')} {reply.get('CoreStartupTime', '')}".strip()


async def queue_members(send: SendAction) -> tuple[ev.MemberState | ev.QueueWaiting, ...]:
    """Every queue's members and their state, and the callers waiting in each (QueueStatus)."""
    reply = await send({"Action": "QueueStatus"}, as_list=True)
    messages = reply if isinstance(reply, list) else [reply]
    found = (ev.decode(m) for m in messages if m.get("Event") in ("QueueMember", "QueueEntry"))
    return tuple(m for m in found if isinstance(m, (ev.MemberState, ev.QueueWaiting)))
