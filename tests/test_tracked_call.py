"""Tests for redial.core.tracked_call."""

from __future__ import annotations

from redial.ami import events as ev
from redial.core.calls import EndedBy
from redial.core.tracked_call import CallState, TrackedCall

CUSTOMER = ev.ChannelRef("PJSIP/trunk-01", "1.1", "1.1")
AGENT = ev.ChannelRef("PJSIP/agent1-02", "1.2", "1.1")
LOCAL1 = ev.ChannelRef("Local/1001@from-queue-00000001;1", "1.3", "1.1")
LOCAL2 = ev.ChannelRef("Local/1001@from-queue-00000001;2", "1.4", "1.1")
PHONE = ev.ChannelRef("PJSIP/1001-00000005", "1.5", "1.1")


def _call() -> TrackedCall:
    """A call from the trunk channel, answered by nobody yet."""
    return TrackedCall(
        linkedid="1.1",
        started_at=0.0,
        customer_uniqueid=CUSTOMER.uniqueid,
        customer_channel=CUSTOMER.channel,
        customer_number="5551234",
        dialled="100",
    )


class TestConversation:
    """Only the customer's and the answering agent's legs make the conversation."""

    def test_before_and_after_an_agent(self) -> None:
        """The customer alone, then the customer and the agent's leg."""
        call = _call()
        assert call.state is CallState.STARTED and call.conversation() == ("1.1",)
        call.set_agent_leg(AGENT)
        assert call.conversation() == ("1.1", "1.2")


class TestAgentLeg:
    """Behind a Local member's halves, the agent is the phone its ;2 half reached."""

    def test_plain_member_is_its_own_leg(self) -> None:
        """A PJSIP member answers on its own channel."""
        call = _call()
        call.set_agent_leg(AGENT)
        assert (call.agent_uniqueid, call.agent_channel) == (AGENT.uniqueid, AGENT.channel)

    def test_local_member_leads_to_the_phone(self) -> None:
        """;1 answered, its twin ;2 Dial()ed the phone: the phone is the agent's leg."""
        call = _call()
        call.answered[LOCAL2.channel] = PHONE
        call.set_agent_leg(LOCAL1)
        assert (call.agent_uniqueid, call.agent_channel) == (PHONE.uniqueid, PHONE.channel)

    def test_local_member_whose_phone_is_not_known_yet(self) -> None:
        """No answered Dial from ;2 seen yet: the ;1 half stands in until it is."""
        call = _call()
        call.set_agent_leg(LOCAL1)
        assert call.agent_uniqueid == LOCAL1.uniqueid

    def test_local_into_local_is_followed_a_few_hops(self) -> None:
        """A Local member that dials another Local channel still leads to the phone."""
        inner1 = ev.ChannelRef("Local/s@agents-00000002;1", "1.6", "1.1")
        call = _call()
        call.answered[LOCAL2.channel] = inner1
        call.answered["Local/s@agents-00000002;2"] = PHONE
        call.set_agent_leg(LOCAL1)
        assert call.agent_channel == PHONE.channel


class TestEndedReport:
    """The report names who ended the call and the cause of that leg."""

    def test_customer_ended(self) -> None:
        """The customer's leg went first: ended by the customer, with its own cause."""
        call = _call()
        call.set_agent_leg(AGENT)
        call.ender_uniqueid, call.ender_soft_cause, call.ended_at = CUSTOMER.uniqueid, 1, 5.0
        call.causes.update({CUSTOMER.uniqueid: 44, AGENT.uniqueid: 16})
        ended = call.ended(9.0)
        assert (ended.ended_by, ended.cause, ended.soft_cause, ended.ended_at) == (EndedBy.CUSTOMER, 44, 1, 5.0)
        assert (ended.agent_uniqueid, ended.customer_number, ended.dialled) == ("1.2", "5551234", "100")

    def test_agent_ended(self) -> None:
        """Any other conversation leg going first is the agent's end."""
        call = _call()
        call.set_agent_leg(AGENT)
        call.ender_uniqueid = AGENT.uniqueid
        call.causes.update({CUSTOMER.uniqueid: 16, AGENT.uniqueid: 16})
        assert call.ended(9.0).ended_by is EndedBy.AGENT

    def test_nobody_known_takes_the_customers_cause_and_now(self) -> None:
        """No ender seen: unknown, with the customer leg's cause and the time of the report."""
        call = _call()
        call.causes[CUSTOMER.uniqueid] = 41
        ended = call.ended(9.0)
        assert (ended.ended_by, ended.cause, ended.soft_cause, ended.ended_at) == (EndedBy.UNKNOWN, 41, None, 9.0)
