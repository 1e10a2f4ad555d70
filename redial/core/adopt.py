"""Queue calls already up when the daemon (re)starts, read from the PBX's channel list. Pure.

After every login the daemon asks for ``CoreShowChannels``. A call whose events it never
saw (it started before the daemon did) is rebuilt from that list, so its drop is still
seen: the caller's channel is the one in ``Queue()``; the agent's leg is the channel
sharing its bridge, or, behind a Local member's halves, the phone bridged to the ``;2``
half.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redial.ami.events import LiveChannel
from redial.core.calls import device_of, local_twin


@dataclass(frozen=True, slots=True)
class CallInProgress:
    """A call found on the PBX, as far as the channel list tells."""

    linkedid: str
    uniqueids: tuple[str, ...]
    customer: LiveChannel
    # The channel that placed the call (the customer, or an agent dialling out).
    first: LiveChannel
    queue: str | None
    agent_leg: LiveChannel | None
    # The queue member behind the agent's leg: (interface, member name).
    member: tuple[str, str] | None


# (device or channel name, queue) -> the member (interface, name), if the queue has one there.
MemberLookup = Callable[[str, str], tuple[str, str] | None]


def _bridged_with(channel: LiveChannel, group: list[LiveChannel]) -> LiveChannel | None:
    if not channel.bridge_id:
        return None
    return next((c for c in group if c.bridge_id == channel.bridge_id and c is not channel), None)


def _agent_leg(caller: LiveChannel, group: list[LiveChannel]) -> LiveChannel | None:
    leg = _bridged_with(caller, group)
    for _hop in range(4):  # Local into Local: a few hops at most
        twin_name = local_twin(leg.ref.channel) if leg is not None else None
        twin = next((c for c in group if c.ref.channel == twin_name), None)
        behind = _bridged_with(twin, group) if twin is not None else None
        if behind is None:
            break
        leg = behind
    return leg


def calls_in_progress(
    channels: Iterable[LiveChannel], member_of: MemberLookup, is_own: Callable[[str], bool]
) -> list[CallInProgress]:
    """Every call in ``channels`` (grouped by Linkedid) that is not the daemon's own."""
    groups: dict[str, list[LiveChannel]] = {}
    for channel in channels:
        if not is_own(channel.ref.linkedid):
            groups.setdefault(channel.ref.linkedid, []).append(channel)
    found = []
    for linkedid, group in groups.items():
        first = next((c for c in group if c.ref.uniqueid == linkedid), group[0])
        in_queue = next((c for c in group if c.application.lower() == "queue"), None)
        queue = in_queue.application_data.split(",", 1)[0].strip() if in_queue is not None else None
        customer = first
        if in_queue is not None and not in_queue.ref.channel.startswith("Local/"):
            customer = in_queue
        leg = _agent_leg(in_queue, group) if in_queue is not None else None
        member = member_of(device_of(leg.ref.channel), queue) if leg is not None and queue else None
        found.append(
            CallInProgress(
                linkedid=linkedid,
                uniqueids=tuple(c.ref.uniqueid for c in group),
                customer=customer,
                first=first,
                queue=queue or None,
                agent_leg=leg,
                member=member,
            )
        )
    return found
