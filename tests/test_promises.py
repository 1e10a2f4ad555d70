"""Tests for redial.core.promises: making a promise, whom a due one rings, its Originate, its ladder and its end."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import structlog

from redial.ami import events as ev
from redial.ami.actions import OriginateRequest
from redial.config import Settings, parse_settings
from redial.core.agents import AgentBoard
from redial.core.jobs import CallbackJob, JobKind, JobState, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from redial.core.promises import (
    MEMBER_RECHECK,
    ON_CALL_RECHECK,
    PromiseRequest,
    Promises,
    next_opening_after,
)
from redial.core.tracked_call import TrackedCall
from redial.exceptions import PromiseRefused
from redial.policy.attempt import Defer, Ring, WaitForAgent
from redial.policy.numbers import NumberCheck, check_number, customer_key
from redial.service.metrics import Metrics
from tests.builders import member

# Friday 2027-01-15 08:00 UTC.
START = 1_800_000_000.0
HOUR, DAY = 3600.0, 86400.0
# Open Fridays 09:00-17:00 UTC: closed at START, open an hour later.
LATER_HOURS = {"timezone": "UTC", "weekly": {"fri": ["09:00-17:00"]}}
# Open every day 07:00-17:00 UTC: open at START.
DAILY_HOURS = {
    "timezone": "UTC",
    "weekly": {day: ["07:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
}


def cfg(hours: dict[str, object] | None = None, promise: dict[str, object] | None = None, **daemon: object) -> Settings:
    policy: dict[str, object] = {"promise": promise or {}}
    if hours is not None:
        policy["hours"] = hours
    return parse_settings({"policy": policy, "promise": daemon}, env={})


# A promise agent1 made for "support", due at START, not rung yet.
PROMISE = CallbackJob(
    id=11,
    call_id=4,
    linkedid="prm-x",
    original_uniqueid="5.1",
    customer_number="2025550123",
    dialled="100",
    queue="support",
    agent_interface="PJSIP/agent1",
    agent_member="agent1",
    trunk="trunk",
    state=JobState.WAITING,
    due_at=START,
    channel_id="redial-11-1-prm-x",
    kind=JobKind.PROMISED_CALLBACK,
    promised_at=START,
    made_by="PJSIP/agent1",
)

FREE = (member("PJSIP/agent1"), member("PJSIP/agent2"))


class Keeper:
    """Promises with its board, open jobs, followed calls and customers on live calls."""

    def __init__(self, settings: Settings | None = None, members: tuple[ev.MemberState, ...] = FREE) -> None:
        self.settings = settings or cfg()
        self.board = AgentBoard()
        self.board.reset(members)
        self.jobs = OpenJobs(structlog.get_logger("test"))
        self.calls: dict[str, TrackedCall] = {}
        self.on_call: set[str] = set()
        self.metrics = Metrics()
        self.promises = Promises(
            self.settings,
            self.board,
            self.jobs,
            self.calls.get,
            self.key,
            self.check,
            lambda key: key in self.on_call,
            self.metrics,
        )

    def key(self, number: str) -> str:
        return customer_key(number, self.settings.policy.numbers)

    def check(self, number: str, queue: str) -> NumberCheck:
        return check_number(number, self.settings.policy_for(queue).numbers, frozenset())

    def make(self, latest: dict[str, Any] | None = None, **request: Any) -> Any:
        fields: dict[str, Any] = {"number": "2025550123", "within": "30m", **request}
        return self.promises.make(PromiseRequest(**fields), START, latest)

    def plan(self, job: CallbackJob = PROMISE, now: float = START, reserved: frozenset[str] = frozenset()) -> Any:
        return self.promises.plan(job, now, set(reserved))


class TestMake:
    """A promise from the CLI, the API or the phone: its owner, queue, number and time, or a refusal in words."""

    @pytest.mark.parametrize(
        ("agent", "members", "owner", "name"),
        [
            ("agent1", FREE, "PJSIP/agent1", "agent1"),
            ("AGENT1", FREE, "PJSIP/agent1", "agent1"),
            ("PJSIP/agent2", FREE, "PJSIP/agent2", "agent2"),
            (
                "PJSIP/1001",
                (ev.MemberState("support", "Local/1001@from-queue/n", "Bob", "PJSIP/1001", 1, False, "", False, 0, 0),),
                "Local/1001@from-queue/n",
                "Bob",
            ),
        ],
    )
    def test_owner_by_name_interface_or_device(
        self, agent: str, members: tuple[ev.MemberState, ...], owner: str, name: str
    ) -> None:
        """The owner is found by member name (any case), by interface, or by the device behind it; its queue too."""
        record = Keeper(members=members).make(agent=agent)
        assert (record.owner_interface, record.owner_member, record.queue) == (owner, name, "support")
        assert record.due_at == START + 1800 and record.number_key == "+12025550123"
        assert (record.made_by, record.source) == ("cli", "cli")

    def test_unknown_agent_refused_by_name(self) -> None:
        """An agent no queue knows is refused, with the name given."""
        with pytest.raises(PromiseRefused, match="no queue member is known as 'carol'"):
            Keeper().make(agent="carol")

    def test_agent_in_two_queues_needs_the_queue(self) -> None:
        """A member of two queues must be given one; with it the promise is that queue's, and a wrong one is refused."""
        keeper = Keeper(members=(*FREE, member("PJSIP/agent1", queue="sales")))
        with pytest.raises(PromiseRefused, match="agent1 is a member of sales, support: name the queue"):
            keeper.make(agent="agent1")
        assert keeper.make(agent="agent1", queue="sales").queue == "sales"
        with pytest.raises(PromiseRefused, match="agent2 is not a member of the queue sales"):
            keeper.make(agent="agent2", queue="sales")

    def test_unknown_queue_refused(self) -> None:
        """A misspelled queue would wait forever: refused, naming the queues that exist."""
        with pytest.raises(PromiseRefused, match=r"no queue 'suport' is known .*support"):
            Keeper().make(queue="suport")
        assert Keeper().make(queue="support").queue == "support"

    def test_no_queue_refused(self) -> None:
        """Without an agent, a queue or a call, nobody would own it: refused."""
        with pytest.raises(PromiseRefused, match="name the queue"):
            Keeper().make()

    def test_no_number_refused(self) -> None:
        """Neither a number nor a call to take it from: refused."""
        with pytest.raises(PromiseRefused, match="give the customer's number"):
            Keeper().make(number="", queue="support")

    def test_phone_needs_a_followed_call(self) -> None:
        """On the phone the promise is attached to the agent's live queue call: without one it is refused."""
        with pytest.raises(PromiseRefused, match="no queue call of this channel is followed"):
            Keeper().make(number="", source="phone", call="5.1", minutes=10, within="")

    def test_phone_takes_the_calls_agent_as_owner(self) -> None:
        """The followed call gives the number, queue, trunk, DID, original Uniqueid and its agent as the owner."""
        keeper = Keeper()
        keeper.calls["5.1"] = TrackedCall(
            linkedid="5.1",
            started_at=START - 60,
            customer_uniqueid="5.1",
            customer_channel="PJSIP/carrier-0000002a",
            customer_number="2025550188",
            dialled="200",
            queue="support",
            agent_interface="PJSIP/agent2",
        )
        record = keeper.make(number="", source="phone", call="5.1", minutes=10, within="", by="PJSIP/agent2")
        assert (record.number, record.queue, record.trunk, record.dialled) == (
            "2025550188",
            "support",
            "carrier",
            "200",
        )
        assert (record.owner_interface, record.owner_member, record.original_uniqueid) == (
            "PJSIP/agent2",
            "agent2",
            "5.1",
        )
        assert (record.due_at, record.made_by, record.source) == (START + 600, "PJSIP/agent2", "phone")

    def test_phone_refuses_the_customers_own_keys(self) -> None:
        """The feature code pressed on the customer's channel (a Local half in Queue()) makes no promise."""
        keeper = Keeper()
        keeper.calls["5.1"] = TrackedCall(
            linkedid="5.1",
            started_at=START - 60,
            customer_uniqueid="5.2",
            customer_channel="Local/ivr@from-ivr-00000001;2",
            customer_number="2025550188",
            queue="support",
            agent_interface="PJSIP/agent2",
        )
        with pytest.raises(PromiseRefused, match="only the agent"):
            keeper.make(
                number="", source="phone", call="5.1", minutes=10, within="", by="Local/ivr@from-ivr-00000001;2"
            )

    def test_cli_without_agent_is_the_queues_even_if_the_last_call_had_one(self) -> None:
        """The latest stored call names an agent, but a CLI promise without one belongs to the queue."""
        latest = {
            "customer_number": "2025550123",
            "queue": "support",
            "agent_interface": "PJSIP/agent1",
            "trunk": "carrier",
            "dialled": "100",
            "customer_uniqueid": "3.1",
        }
        record = Keeper().make(latest, number="", call="3.1")
        assert (record.owner_interface, record.owner_member, record.queue) == ("", "", "support")
        assert (record.number, record.trunk, record.original_uniqueid) == ("2025550123", "carrier", "3.1")

    @pytest.mark.parametrize(("number", "words"), [("911", "emergency number"), ("123", "too few")])
    def test_number_refused_by_the_number_rules(self, number: str, words: str) -> None:
        """An emergency or short number is refused, naming the number and why."""
        with pytest.raises(PromiseRefused, match=f"^{number} cannot be called back: .*{words}"):
            Keeper().make(number=number, queue="support")

    def test_disabled(self) -> None:
        """promise.enabled false refuses every promise."""
        with pytest.raises(PromiseRefused, match=r"disabled \(promise.enabled\)"):
            Keeper(cfg(enabled=False)).make(queue="support")

    def test_note_kept_printable_and_short(self) -> None:
        """Control characters are taken out of the note, and it is cut at 500 characters."""
        record = Keeper().make(queue="support", note="call\nabout\x07 the " + "x" * 600)
        assert record.note.startswith("callabout the x") and len(record.note) == 500

    def test_each_promise_has_its_own_key(self) -> None:
        """Two promises made at the same moment get different keys (the store refuses a key twice)."""
        keeper = Keeper()
        assert keeper.make(queue="support").key != keeper.make(queue="support").key


class TestAnswer:
    """What the maker is told once the promise is stored."""

    def test_in_hours(self) -> None:
        """Due in hours: the time as made, whole minutes, the owner named."""
        job = dataclasses.replace(PROMISE, due_at=START + 1800)
        answer = Keeper().promises.answer(job, START)
        assert (answer.ok, answer.promise_id, answer.due_at, answer.minutes) == (True, 11, START + 1800, 30)
        assert answer.detail == "promise 11 stored: agent1 calls 2025550123 back"
        assert (answer.agent_name, answer.agent_interface, answer.queue) == ("agent1", "PJSIP/agent1", "support")

    def test_outside_hours_moved_to_the_next_opening(self) -> None:
        """Due while the queue is closed: the first ring is at the next opening, and the answer says so."""
        answer = Keeper(cfg(LATER_HOURS)).promises.answer(PROMISE, START)
        assert (answer.due_at, answer.minutes) == (START + HOUR, 60)
        assert answer.detail.endswith("outside business hours: moved to the next opening")


class TestPlan:
    """Whom a due promise rings: the owner first, another member when the owner cannot."""

    def test_closed_waits_for_the_next_opening(self) -> None:
        """Outside the queue's hours nobody is rung: deferred to the next opening."""
        plan = Keeper(cfg(LATER_HOURS)).plan()
        assert isinstance(plan, Defer) and plan.until == START + HOUR

    def test_customer_on_a_live_call_deferred(self) -> None:
        """The customer is on a call with the PBX: looked at again shortly, never dialled meanwhile."""
        keeper = Keeper()
        keeper.on_call.add("+12025550123")
        assert keeper.plan() == Defer(
            START + ON_CALL_RECHECK, "the customer is on a call with the PBX; never dialled meanwhile"
        )

    def test_free_owner_rung(self) -> None:
        """A free owner is rung, as no fallback, even when another member has been idle longer."""
        members = (member("PJSIP/agent1", last_call=100), member("PJSIP/agent2", last_call=1))
        plan = Keeper(members=members).plan()
        assert isinstance(plan, Ring) and (plan.interface, plan.fallback) == ("PJSIP/agent1", False)

    def test_busy_owner_waited_for_then_another_member(self) -> None:
        """A busy owner is waited for up to owner_wait; past it a free member takes the promise."""
        keeper = Keeper(cfg(promise={"owner_wait": 120}), members=(member("PJSIP/agent1", 2), member("PJSIP/agent2")))
        wait = keeper.plan()
        assert isinstance(wait, WaitForAgent) and wait.until == START + 120
        waiting = move(PROMISE, Trigger.WAIT_AGENT, wait.detail, agent_deadline=wait.until)
        assert isinstance(keeper.plan(waiting, START + 119), WaitForAgent)
        plan = keeper.plan(waiting, START + 120)
        assert isinstance(plan, Ring) and (plan.interface, plan.fallback) == ("PJSIP/agent2", True)

    def test_past_the_owner_wait_nobody_free_keeps_the_deadline(self) -> None:
        """Past owner_wait with no member free, the wait keeps the owner's deadline and says no countdown."""
        keeper = Keeper(
            cfg(promise={"owner_wait": 120}), members=(member("PJSIP/agent1", 2), member("PJSIP/agent2", 2))
        )
        waiting = move(PROMISE, Trigger.WAIT_AGENT, "", agent_deadline=START + 120)
        assert keeper.plan(waiting, START) == keeper.plan(waiting, START + 60)  # nothing new to store
        plan = keeper.plan(waiting, START + 200)
        assert plan == WaitForAgent(START + 120, "PJSIP/agent1 is on a call: waiting for a free member of support")

    def test_owner_in_wrap_up_waited_for_without_a_countdown(self) -> None:
        """An owner in wrap-up is busy; the wait's detail stays the same from second to second."""
        wrapping = ev.MemberState(
            "support", "PJSIP/agent1", "agent1", "PJSIP/agent1", 1, False, "", False, int(START), 60
        )
        keeper = Keeper(members=(wrapping,))
        waiting = move(PROMISE, Trigger.WAIT_AGENT, "", agent_deadline=START + 120)
        plan = keeper.plan(waiting, START + 1)
        assert plan == WaitForAgent(START + 120, "PJSIP/agent1 is in wrap-up; the owner is waited for up to 120 s")
        assert keeper.plan(waiting, START + 2) == plan

    @pytest.mark.parametrize(
        "owner",
        [member("PJSIP/agent1", status=5), member("PJSIP/agent1", paused_reason="lunch")],
        ids=["logged_off", "paused"],
    )
    def test_owner_away_another_member_at_once(self, owner: ev.MemberState) -> None:
        """An owner logged off or paused for another reason is not waited for: another member now."""
        plan = Keeper(members=(owner, member("PJSIP/agent2"))).plan()
        assert isinstance(plan, Ring) and (plan.interface, plan.fallback) == ("PJSIP/agent2", True)

    def test_owner_paused_by_redial_counts_as_free(self) -> None:
        """Paused with redial's own reason (left from a reservation) is free."""
        plan = Keeper(members=(member("PJSIP/agent1", paused_reason="redial"),)).plan()
        assert isinstance(plan, Ring) and plan.interface == "PJSIP/agent1"

    def test_owner_reserved_by_another_job_is_busy(self) -> None:
        """An owner ringing for another callback is waited for like a busy one, never rung twice."""
        plan = Keeper().plan(reserved=frozenset({"PJSIP/agent1"}))
        assert isinstance(plan, WaitForAgent) and "ringing for another callback" in plan.detail

    def test_owner_passed_over_another_member(self) -> None:
        """An owner whose phone did not take it is passed over: another member, named as a fallback."""
        job = dataclasses.replace(PROMISE, passed_over=("PJSIP/agent1",))
        plan = Keeper().plan(job)
        assert isinstance(plan, Ring) and (plan.interface, plan.fallback) == ("PJSIP/agent2", True)
        assert plan.detail.startswith("the owner PJSIP/agent1 did not take it")

    def test_queues_promise_rings_the_longest_idle(self) -> None:
        """A promise owned by the queue rings the free member idle longest, not as a fallback."""
        members = (member("PJSIP/agent1", last_call=100), member("PJSIP/agent2", last_call=1))
        job = dataclasses.replace(PROMISE, agent_interface="", agent_member="")
        plan = Keeper(members=members).plan(job)
        assert isinstance(plan, Ring) and (plan.interface, plan.fallback) == ("PJSIP/agent2", False)

    def test_nobody_free_waits_for_a_member(self) -> None:
        """No member is free: waiting for one (planned again at every change of the members)."""
        job = dataclasses.replace(PROMISE, agent_interface="", agent_member="")
        plan = Keeper(members=(member("PJSIP/agent1", 2), member("PJSIP/agent2", 2))).plan(job)
        assert plan == WaitForAgent(START + MEMBER_RECHECK, "the queue's promise: waiting for a free member of support")


class TestOriginateRequest:
    """A promise's Originate: "PROMISED" on the phone, the owner's ring timeout, the whisper of whose promise."""

    BASE = OriginateRequest(
        redial_id=11,
        channel_id="redial-11-1-prm-x",
        agent_interface="PJSIP/agent1",
        customer_number="2025550123",
        trunk="trunk",
        did="100",
        original_uniqueid="5.1",
        queue="support",
        context="redial-out",
        account="redial",
        caller_id_name="REDIAL",
        agent_ring_timeout=45,
        customer_ring_timeout=30,
    )
    SETTINGS = cfg(promise={"owner_ring_timeout": 12, "name_sounds": {"agent1": "custom/alice"}})

    def test_owner_rung(self) -> None:
        """The owner's phone rings owner_ring_timeout, shows PROMISED, and the whisper names the owner."""
        request = Keeper(self.SETTINGS).promises.originate_request(self.BASE, PROMISE, "PJSIP/agent1")
        assert (request.caller_id_name, request.agent_ring_timeout, request.promise) == ("PROMISED", 12, True)
        assert (request.owner_name, request.owner_sound, request.note_sound) == ("agent1", "custom/alice", ())
        assert request.agent_prompt == ("beep",)

    def test_another_member_rung_with_a_note(self) -> None:
        """Another member keeps the redial's ring timeout; a note adds its sound; the owner is still named."""
        job = dataclasses.replace(PROMISE, note="wants a refund")
        request = Keeper(self.SETTINGS).promises.originate_request(self.BASE, job, "PJSIP/agent2")
        assert (request.agent_ring_timeout, request.owner_name, request.note_sound) == (45, "agent1", ("vm-message",))

    def test_queues_promise_has_no_owner_sound(self) -> None:
        """A promise owned by the queue names nobody."""
        job = dataclasses.replace(PROMISE, agent_interface="", agent_member="")
        request = Keeper(self.SETTINGS).promises.originate_request(self.BASE, job, "PJSIP/agent2")
        assert (request.owner_name, request.owner_sound, request.agent_ring_timeout) == ("", "", 45)


def ended(job: CallbackJob, outcome: Outcome, **changes: object) -> CallbackJob:
    return move(job, Trigger.CANCEL, outcome.value, outcome, **changes)


class TestRetry:
    """The queue's ladder when the customer was not reached: one rung per attempt, then nothing."""

    @pytest.mark.parametrize(
        ("attempt", "due", "when"),
        [(1, START + 900, "in 900 s"), (2, START + HOUR, "in 3600 s"), (3, START + DAY, "at the next opening")],
    )
    def test_rungs(self, attempt: int, due: float, when: str) -> None:
        """15 min, an hour, then the next opening (tomorrow when always open); the attempt counts up."""
        job = dataclasses.replace(PROMISE, attempt=attempt, passed_over=("PJSIP/agent1",), connected_at=START)
        following = Keeper().promises.retry(job, ended(job, Outcome.CUSTOMER_NO_ANSWER), START)
        assert following is not None and following.state is JobState.WAITING
        assert (following.due_at, following.attempt, following.passed_over) == (due, attempt + 1, ())
        assert following.connected_at is None
        assert following.detail == f"attempt {attempt + 1} of 4 {when} after customer_no_answer"

    def test_next_opening_rung_in_hours(self) -> None:
        """The next_opening rung waits for tomorrow's opening, not the current one."""
        job = dataclasses.replace(PROMISE, attempt=3)
        following = Keeper(cfg(DAILY_HOURS)).promises.retry(job, ended(job, Outcome.CUSTOMER_BUSY), START)
        assert following is not None and following.due_at == START + DAY - HOUR  # Saturday 07:00

    def test_past_the_last_rung(self) -> None:
        """After the last rung there is no next attempt."""
        job = dataclasses.replace(PROMISE, attempt=4)
        assert Keeper().promises.retry(job, ended(job, Outcome.CUSTOMER_NO_ANSWER), START) is None

    @pytest.mark.parametrize(
        ("outcome", "retried"),
        [
            (Outcome.CUSTOMER_NO_ANSWER, True),
            (Outcome.CUSTOMER_BUSY, True),
            (Outcome.TALK_TOO_SHORT, True),
            (Outcome.FAILED, False),
            (Outcome.CUSTOMER_NOT_CONFIRMED, False),
        ],
    )
    def test_retried_only_when_the_customer_was_not_reached(self, outcome: Outcome, retried: bool) -> None:
        """No answer, busy and a too short talk are retried; FAILED (maybe reached) and others are not."""
        following = Keeper().promises.retry(PROMISE, ended(PROMISE, outcome), START)
        assert (following is not None) is retried


class TestFinal:
    """The end of a promise: kept (late or not), unreached, or closed as it is."""

    @pytest.mark.parametrize(("talked_at", "late"), [(START + 900, False), (START + 901, True)])
    def test_kept_late_after_late_after(self, talked_at: float, late: bool) -> None:
        """Kept more than late_after (900 s) after the time promised is late, even when due_at moved."""
        job = dataclasses.replace(PROMISE, due_at=START + 5000)
        final = Keeper().promises.final(ended(job, Outcome.CONNECTED, connected_at=talked_at))
        assert final.outcome is Outcome.CONNECTED and final.late is late

    def test_late_counts_from_the_opening_it_was_moved_to(self) -> None:
        """Promised while closed (08:00, open from 09:00): kept at 09:05 is on time, at 09:16 late."""
        keeper = Keeper(cfg(LATER_HOURS))
        on_time = keeper.promises.final(ended(PROMISE, Outcome.CONNECTED, connected_at=START + HOUR + 300))
        late = keeper.promises.final(ended(PROMISE, Outcome.CONNECTED, connected_at=START + HOUR + 960))
        assert (on_time.late, late.late) == (False, True)

    def test_unreached_after_the_ladder(self) -> None:
        """Not reached on the last rung: unreached, saying how many attempts and the last one's outcome."""
        job = dataclasses.replace(PROMISE, attempt=4)
        final = Keeper().promises.final(ended(job, Outcome.CUSTOMER_NO_ANSWER))
        assert final.outcome is Outcome.UNREACHED
        assert final.detail == "not reached after 4 attempt(s); the last: customer_no_answer (customer_no_answer)"

    @pytest.mark.parametrize("outcome", [Outcome.CUSTOMER_CALLED_BACK, Outcome.CUSTOMER_ON_CALL, Outcome.CANCELLED])
    def test_closed_ends_kept(self, outcome: Outcome) -> None:
        """Called back, on a call, cancelled: no failure to reach them, kept as they are."""
        closed = ended(PROMISE, outcome)
        assert Keeper().promises.final(closed) == closed


class TestAlert:
    """The admin's webhook payload for an unreached promise."""

    def test_payload(self) -> None:
        """Every field the webhook promises, from the ended job."""
        job = dataclasses.replace(PROMISE, attempt=4, note="refund")
        final = ended(job, Outcome.UNREACHED)
        assert Keeper().promises.alert(final, START + 10).payload == {
            "event": "promise_unreached",
            "promise_id": 11,
            "customer": "2025550123",
            "queue": "support",
            "owner": "agent1",
            "attempts": 4,
            "promised_at": START,
            "note": "refund",
            "detail": "unreached",
            "at": START + 10,
        }


class TestNextOpeningAfter:
    """The start of the queue's next opening after the current one."""

    def test_always_open_is_a_day_later(self) -> None:
        """No weekly hours: the same time tomorrow."""
        assert next_opening_after(START, cfg().policy.hours) == START + DAY

    def test_open_now_is_tomorrows_opening(self) -> None:
        """Open now (Friday 08:00, open 07:00-17:00): Saturday 07:00, not today's 07:00."""
        assert next_opening_after(START, cfg(DAILY_HOURS).policy.hours) == START + DAY - HOUR

    def test_closed_now_is_the_coming_opening(self) -> None:
        """Closed now (Friday 08:00, open from 09:00): today's 09:00 is the next opening."""
        assert next_opening_after(START, cfg(LATER_HOURS).policy.hours) == START + HOUR


class TestCounts:
    """The promise metrics: made, pending, and how each ended."""

    def test_made_and_kept_by_owner_or_other(self) -> None:
        """Made counts and sets pending; kept by the owner's phone or another member's count apart."""
        keeper = Keeper()
        keeper.jobs.put(PROMISE)
        keeper.promises.count_made(PROMISE)
        count = keeper.metrics.promises.labels
        assert count("support", "made")._value.get() == 1
        assert keeper.metrics.promises_pending.labels("support")._value.get() == 1
        keeper.promises.count_end(ended(PROMISE, Outcome.CONNECTED, ring_interface="PJSIP/agent1"))
        keeper.promises.count_end(ended(PROMISE, Outcome.CONNECTED, ring_interface="PJSIP/agent2", late=True))
        assert [count("support", e)._value.get() for e in ("kept_by_owner", "kept_by_other", "late")] == [1, 1, 1]
