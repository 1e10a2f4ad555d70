"""Tests for redial.ami.login_snapshot: the PBX's state read after each login, over a scripted send."""

from __future__ import annotations

from typing import Any

import pytest

from redial.ami import events as ev
from redial.ami.actions import Action
from redial.ami.login_snapshot import live_channels, pbx_started, queue_members
from redial.exceptions import AmiRefused, AmiTimeout


class ScriptedSend:
    """Answers each action by name from a script; keeps what was sent."""

    def __init__(self, replies: dict[str, Any]) -> None:
        self.replies = replies
        self.sent: list[tuple[str, bool]] = []

    async def __call__(self, action: Action, *, as_list: bool = False) -> Any:
        name = str(action["Action"])
        self.sent.append((name, as_list))
        reply = self.replies[name]
        if isinstance(reply, BaseException):
            raise reply
        return reply


def _channel(uid: str, application: str) -> dict[str, str]:
    return {
        "Event": "CoreShowChannel",
        "Uniqueid": uid,
        "Linkedid": uid,
        "Channel": f"PJSIP/trunk-{uid}",
        "CallerIDNum": "5551234",
        "Exten": "400",
        "Application": application,
        "Duration": "00:00:42",
    }


COMPLETE = {"Event": "CoreShowChannelsComplete", "EventList": "Complete"}


class TestLiveChannels:
    """The channel list, with the DIDs of queued callers from Status."""

    async def test_no_queue_call_asks_nothing_more(self) -> None:
        """Without a channel in Queue(), Status is not asked for and no DID is set."""
        send = ScriptedSend({"CoreShowChannels": [{"Response": "Success"}, _channel("1.1", "Dial"), COMPLETE]})
        (channel,) = await live_channels(send)
        assert (channel.ref.uniqueid, channel.application, channel.duration, channel.dialled) == ("1.1", "Dial", 42, "")
        assert send.sent == [("CoreShowChannels", True)]

    async def test_queued_callers_get_their_did(self) -> None:
        """With a caller in Queue(), each channel's DID is its Status DNID ("" when Status has none)."""
        send = ScriptedSend(
            {
                "CoreShowChannels": [_channel("1.1", "Queue"), _channel("2.1", "AppDial"), COMPLETE],
                "Status": [
                    {"Event": "Status", "Uniqueid": "1.1", "DNID": "2025550100"},
                    {"Event": "StatusComplete"},
                ],
            }
        )
        channels = await live_channels(send)
        assert [(c.ref.uniqueid, c.dialled) for c in channels] == [("1.1", "2025550100"), ("2.1", "")]
        assert send.sent == [("CoreShowChannels", True), ("Status", True)]

    async def test_single_reply_and_unusable_items(self) -> None:
        """A lone reply (no list) or items without a Uniqueid give no channels."""
        send = ScriptedSend({"CoreShowChannels": {"Event": "CoreShowChannel", "Channel": "PJSIP/x"}})
        assert await live_channels(send) == ()

    async def test_failure_is_passed_on(self) -> None:
        """An action that gets no answer fails the snapshot; the link decides what then."""
        send = ScriptedSend({"CoreShowChannels": AmiTimeout("no answer")})
        with pytest.raises(AmiTimeout):
            await live_channels(send)


class TestQueueMembers:
    """Queue members from QueueStatus, as MemberState records."""

    async def test_members_and_waiting_callers(self) -> None:
        """QueueMember and QueueEntry items become records; queue parameters are left out."""
        send = ScriptedSend(
            {
                "QueueStatus": [
                    {"Response": "Success"},
                    {"Event": "QueueParams", "Queue": "support"},
                    {"Event": "QueueMember", "Queue": "support", "Name": "Alice", "Location": "PJSIP/a", "Status": "1"},
                    {"Event": "QueueEntry", "Queue": "support", "Uniqueid": "1.1", "Wait": "42", "Position": "1"},
                    {"Event": "QueueStatusComplete"},
                ]
            }
        )
        member, waiting = await queue_members(send)
        assert isinstance(member, ev.MemberState)
        assert (member.queue, member.interface, member.name, member.status) == ("support", "PJSIP/a", "Alice", 1)
        assert waiting == ev.QueueWaiting(uniqueid="1.1", queue="support", caller_number="", wait=42, position=1)
        assert send.sent == [("QueueStatus", True)]


class TestPbxStarted:
    """When Asterisk started, to notice a restart between logins."""

    async def test_startup_date_and_time(self) -> None:
        """CoreStatus's startup date and time, joined."""
        send = ScriptedSend({"CoreStatus": {"CoreStartupDate": "2026-12-01", "CoreStartupTime": "04:00:00"}})
        assert await pbx_started(send) == "2026-12-01 04:00:00"

    async def test_refused_or_unreadable_is_empty(self) -> None:
        """A user without the reporting class, or a reply that is no message, tells nothing."""
        assert await pbx_started(ScriptedSend({"CoreStatus": AmiRefused("Permission denied")})) == ""
        assert await pbx_started(ScriptedSend({"CoreStatus": None})) == ""
