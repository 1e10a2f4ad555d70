"""Tests for redial.core.progress."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from redial.ami import events as ev
from redial.core.jobs import CallbackJob, JobKind, JobState, Outcome
from redial.core.progress import advance, expire
from redial.service.replay import load_frames

REDIAL = CallbackJob(
    id=42,
    call_id=1,
    linkedid="1795354875.10",
    original_uniqueid="1795354875.10",
    customer_number="5551234",
    dialled="100",
    queue="support",
    agent_interface="PJSIP/agent1",
    agent_member="Alice",
    trunk="trunk",
    state=JobState.ORIGINATING,
    due_at=0.0,
    channel_id="redial-42-a",
    originated_at=100.0,
)


def run(redial: CallbackJob, events: list[ev.AmiEvent]) -> list[CallbackJob]:
    states = [redial]
    for event in events:
        moved = advance(states[-1], event)
        if moved is not None:
            states.append(moved)
    return states


def ref(uid: str, linked: str = "redial-42-a") -> ev.ChannelRef:
    return ev.ChannelRef(channel="PJSIP/x", uniqueid=uid, linkedid=linked)


class TestRecordedRedial:
    """The real agent-first Originate recording walks the machine to CONNECTED."""

    def test_connected(self, corpus: Path) -> None:
        frames = load_frames(corpus / "asterisk22" / "redial_originate.ami")
        events = [e for e in map(ev.decode, frames) if e is not None]
        states = run(REDIAL, events)
        assert [s.state for s in states] == [
            JobState.ORIGINATING,
            JobState.AGENT_ANSWERED,
            JobState.CUSTOMER_ANSWERED,
            JobState.CUSTOMER_ANSWERED,
            JobState.DONE,
        ]
        assert states[-1].outcome is Outcome.CONNECTED

    def test_other_redials_events_ignored(self, corpus: Path) -> None:
        frames = load_frames(corpus / "asterisk22" / "redial_originate.ami")
        other = dataclasses.replace(REDIAL, channel_id="redial-43-a")
        assert run(other, [e for e in map(ev.decode, frames) if e is not None]) == [other]


class TestOutcomes:
    """Each way a redial can end."""

    @pytest.mark.parametrize(
        ("reason", "outcome"),
        [
            (3, Outcome.AGENT_NO_ANSWER),
            (5, Outcome.AGENT_NO_ANSWER),
            (1, Outcome.AGENT_NO_ANSWER),
            (0, Outcome.AGENT_UNREACHABLE),
            (8, Outcome.AGENT_UNREACHABLE),
        ],
    )
    def test_originate_failure(self, reason: int, outcome: Outcome) -> None:
        final = advance(REDIAL, ev.OriginateResult("x", False, reason, "redial-42-a", ""))
        assert final is not None and final.done and final.outcome is outcome

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            ("NOANSWER", Outcome.CUSTOMER_NO_ANSWER),
            ("BUSY", Outcome.CUSTOMER_BUSY),
            ("CHANUNAVAIL", Outcome.FAILED),
            ("CANCEL", Outcome.FAILED),
        ],
    )
    def test_customer_dial_end(self, status: str, outcome: Outcome) -> None:
        answered = dataclasses.replace(REDIAL, state=JobState.AGENT_ANSWERED)
        final = advance(answered, ev.DialEnded(caller=ref("redial-42-a"), dest=ref("9.9"), status=status))
        assert final is not None and final.outcome is outcome

    def test_agent_dial_end_before_originate_response(self) -> None:
        # Cross-topic ordering is not guaranteed: the first leg's DialEnd may come first.
        moved = advance(REDIAL, ev.DialEnded(caller=None, dest=ref("redial-42-a"), status="ANSWER"))
        assert moved is not None and moved.state is JobState.AGENT_ANSWERED
        again = advance(moved, ev.OriginateResult("x", True, 4, "redial-42-a", ""))
        assert again is None

    def test_agent_hangs_up_before_customer_answers(self) -> None:
        answered = dataclasses.replace(REDIAL, state=JobState.AGENT_ANSWERED)
        final = advance(answered, ev.ChannelHungUp(ref("redial-42-a"), 16, ""))
        assert final is not None and final.outcome is Outcome.FAILED

    def test_hangup_while_originating_waits_for_reason(self) -> None:
        assert advance(REDIAL, ev.ChannelHungUp(ref("redial-42-a"), 19, "")) is None

    def test_waiting_and_done_never_move(self) -> None:
        event = ev.OriginateResult("x", True, 4, "redial-42-a", "")
        assert advance(dataclasses.replace(REDIAL, state=JobState.WAITING), event) is None
        assert advance(dataclasses.replace(REDIAL, state=JobState.DONE), event) is None

    def test_expire(self) -> None:
        assert expire(REDIAL, 100.0 + 179, 180) is None
        final = expire(REDIAL, 100.0 + 180, 180)
        assert final is not None and final.outcome is Outcome.FAILED and "no outcome" in final.detail


class TestQueueCallbackConfirmation:
    """A queue callback's customer is connected only after pressing 1."""

    def test_hangup_after_the_customer_answered_is_not_confirmed(self) -> None:
        """The agent's channel ends while the customer, answered, never pressed 1: customer_not_confirmed."""
        callback = dataclasses.replace(REDIAL, kind=JobKind.QUEUE_CALLBACK, state=JobState.CUSTOMER_ANSWERED)
        final = advance(callback, ev.ChannelHungUp(ref("redial-42-a"), 16, "Normal Clearing"))
        assert final is not None and final.done and final.outcome is Outcome.CUSTOMER_NOT_CONFIRMED
        assert "did not press 1" in final.detail

    def test_dial_status_continue_is_not_confirmed(self) -> None:
        """app_dial reports the customer's leg that [redial-greeting] ended unconfirmed as DialStatus CONTINUE."""
        callback = dataclasses.replace(REDIAL, kind=JobKind.QUEUE_CALLBACK, state=JobState.AGENT_ANSWERED)
        ended = ev.DialEnded(caller=ref("redial-42-a"), dest=ref("9.9"), status="CONTINUE")
        final = advance(callback, ended)
        assert final is not None and final.done and final.outcome is Outcome.CUSTOMER_NOT_CONFIRMED

    def test_drop_redial_in_the_same_situation_still_fails(self) -> None:
        """A drop redial has no press 1: the same end is ``failed``, as before."""
        redial = dataclasses.replace(REDIAL, state=JobState.CUSTOMER_ANSWERED)
        final = advance(redial, ev.ChannelHungUp(ref("redial-42-a"), 16, "Normal Clearing"))
        assert final is not None and final.outcome is Outcome.FAILED

    def test_pressed_one_and_bridged_is_connected(self) -> None:
        """The customer pressed 1: both legs bridged make a queue callback connected."""
        callback = dataclasses.replace(REDIAL, kind=JobKind.QUEUE_CALLBACK, state=JobState.AGENT_ANSWERED)
        answered = ev.DialEnded(caller=ref("redial-42-a"), dest=ref("9.9"), status="ANSWER")
        bridged = ev.BridgeEntered(ref("redial-42-a"), "b-1")
        states = run(callback, [answered, bridged, dataclasses.replace(bridged, ref=ref("9.9"))])
        assert [s.state for s in states][-1] is JobState.DONE and states[-1].outcome is Outcome.CONNECTED

    def test_agent_hangup_before_the_customer_answers_is_failed(self) -> None:
        """Before the customer answered there was nothing to confirm: ``failed`` for a callback too."""
        callback = dataclasses.replace(REDIAL, kind=JobKind.QUEUE_CALLBACK, state=JobState.AGENT_ANSWERED)
        final = advance(callback, ev.ChannelHungUp(ref("redial-42-a"), 16, ""))
        assert final is not None and final.outcome is Outcome.FAILED


class TestPromiseTalk:
    """A promise's talk ends with the agent's or the customer's channel, kept once it lasted min_talk."""

    TALKING = dataclasses.replace(REDIAL, kind=JobKind.PROMISED_CALLBACK, state=JobState.TALKING, connected_at=100.0)

    def test_kept_or_too_short(self) -> None:
        """The customer hangs up 25 s in: kept; 5 s in: talk_too_short."""
        hangup = ev.ChannelHungUp(ev.ChannelRef("PJSIP/trunk-0001", "9.9", "redial-42-a"), 16, "")
        kept = advance(self.TALKING, hangup, now=125.0, min_talk=20.0)
        short = advance(self.TALKING, hangup, now=105.0, min_talk=20.0)
        assert kept is not None and kept.outcome is Outcome.CONNECTED
        assert short is not None and short.outcome is Outcome.TALK_TOO_SHORT

    def test_local_halves_optimised_away_do_not_end_it(self) -> None:
        """originate.customer_route's Local halves leave the bridge at once: the talk goes on."""
        for half in ("Local/2025550123@outbound-00000001;1", "Local/2025550123@outbound-00000001;2"):
            hangup = ev.ChannelHungUp(ev.ChannelRef(half, "9.8", "redial-42-a"), 16, "")
            assert advance(self.TALKING, hangup, now=101.0, min_talk=20.0) is None
