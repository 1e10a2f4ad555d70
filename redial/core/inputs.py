"""What the engine takes in besides AMI events: the link's logins and the FastAGI's reports."""

from __future__ import annotations

from dataclasses import dataclass

from redial.ami import events as ev
from redial.core.tracker import CallerWithheld, RoutedToAgent


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The AMI link is (again) logged in: the calls alive on the PBX and the queue members."""

    linkedids: frozenset[str]
    members: tuple[ev.MemberState, ...] | None = None
    # The channels alive on the PBX: calls already up are taken up from them.
    channels: tuple[ev.LiveChannel, ...] = ()
    # When Asterisk started (CoreStatus); a change between logins means it restarted.
    pbx_started: str = ""
    # Which login of the link this is (the link sends nothing until it is applied).
    generation: int = 0
    # Events that arrived while the snapshot was taken: applied right after it, in order,
    # before anything is taken for gone (a Hangup among them reports its call).
    events: tuple[ev.AmiEvent, ...] = ()
    # The callers waiting in each queue (QueueEntry): the live callers a queue callback may not overtake.
    waiting: tuple[ev.QueueWaiting, ...] = ()

    @classmethod
    def of(
        cls,
        channels: tuple[ev.LiveChannel, ...],
        members: tuple[ev.MemberState | ev.QueueWaiting, ...],
        pbx_started: str = "",
        generation: int = 0,
        events: tuple[ev.AmiEvent, ...] = (),
    ) -> LinkUp:
        linkedids = frozenset(c.ref.linkedid for c in channels)
        states = tuple(m for m in members if isinstance(m, ev.MemberState))
        waiting = tuple(m for m in members if isinstance(m, ev.QueueWaiting))
        return cls(linkedids, states, channels, pbx_started, generation, events, waiting)


EngineInput = ev.AmiEvent | LinkUp | RoutedToAgent | CallerWithheld
