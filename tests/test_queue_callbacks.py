"""Tests for redial.core.queue_callbacks: the offer, the request, the turn, and the retries."""

from __future__ import annotations

import dataclasses

import pytest
import structlog

from redial.ami import events as ev
from redial.ami.actions import OriginateRequest
from redial.config import Settings, parse_settings
from redial.core.agents import AgentBoard
from redial.core.commands import RecordRequest
from redial.core.jobs import CallbackJob, JobState, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from redial.core.queue_callbacks import (
    ON_CALL_RECHECK,
    TURN_RECHECK,
    CallbackRequest,
    QueueCallbacks,
    RequestAnswer,
    minutes_of,
)
from redial.core.queue_line import QueueLine
from redial.policy.attempt import Defer, Ring, WaitForAgent
from redial.policy.numbers import NumberCheck, check_number, customer_key
from redial.service.metrics import Metrics
from tests.builders import QUEUED, joined, left, member, ref

# Friday 2027-01-15 08:00 UTC.
START = 1_800_000_000.0
# Open Fridays 09:00-17:00 UTC: closed at START, open an hour later.
LATER_HOURS = {"timezone": "UTC", "weekly": {"fri": ["09:00-17:00"]}}
# Open Fridays 07:00-08:10 UTC: open at START, closed ten minutes later.
CLOSING_HOURS = {"timezone": "UTC", "weekly": {"fri": ["07:00-08:10"]}}


def cfg(hours: dict[str, object] | None = None, **queue_callback: object) -> Settings:
    policy: dict[str, object] = {"hours": hours} if hours is not None else {}
    return parse_settings({"policy": policy, "queue_callback": queue_callback}, env={})


class Desk:
    """QueueCallbacks with its line, board and open jobs, and what it was asked."""

    def __init__(self, settings: Settings | None = None, members: tuple[ev.MemberState, ...] = ()) -> None:
        self.settings = settings or cfg()
        self.line = QueueLine()
        self.board = AgentBoard()
        self.board.reset(members)
        self.jobs = OpenJobs(structlog.get_logger("test"))
        self.on_call: set[str] = set()
        self.checked: list[tuple[str, str]] = []
        self.metrics = Metrics()
        self.callbacks = QueueCallbacks(
            self.settings,
            self.line,
            self.board,
            self.jobs,
            self.key,
            self.check,
            lambda key: key in self.on_call,
            self.metrics,
        )

    def key(self, number: str) -> str:
        return customer_key(number, self.settings.policy.numbers)

    def check(self, number: str, queue: str) -> NumberCheck:
        self.checked.append((number, queue))
        return check_number(number, self.settings.policy_for(queue).numbers, frozenset())

    def join(self, uid: str, at: float, number: str = "2025550123", queue: str = "support") -> None:
        self.callbacks.observe(joined(uid, number, queue), at)

    def press_key(self, uid: str, at: float, queue: str = "support") -> None:
        """The caller presses the offer key: app_queue lets them out of the line."""
        self.callbacks.observe(left(uid, queue), at)

    def pending(self, job_id: int, joined_at: float, number: str = "2025550123", **changes: object) -> CallbackJob:
        job = dataclasses.replace(QUEUED, id=job_id, joined_at=joined_at, customer_number=number, **changes)
        self.jobs.put(job)
        return job


BUSY = (member("PJSIP/agent1", status=2), member("PJSIP/agent2", status=2))


def asked(uid: str = "2.1", number: str = "2025550123", keyed: bool = False) -> CallbackRequest:
    return CallbackRequest(uid, number, keyed, dialled="100", channel="PJSIP/trunk-0000002a")


class TestOffer:
    """May the caller who pressed the offer key have a callback, and how long is the wait?"""

    def test_unknown_caller(self) -> None:
        """A caller the daemon never saw in a queue is not offered one, and no queue is named."""
        desk = Desk(members=BUSY)
        desk.join("1.1", START - 100)
        offer = desk.callbacks.offer("9.9", START)
        assert (offer.offered, offer.reason, offer.queue) == (False, "unknown_caller", "")

    def test_offered_with_position_and_minutes(self) -> None:
        """One live caller ahead, two busy members: position 2, one handle time (240 s) = 4 minutes."""
        desk = Desk(members=BUSY)
        desk.join("1.1", START - 600)
        desk.join("2.1", START - 300)
        desk.join("3.1", START - 100)
        desk.press_key("2.1", START)
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.offered, offer.reason, offer.queue) == (True, "offered", "support")
        assert (offer.joined_at, offer.position, offer.minutes) == (START - 300, 2, 4)
        assert offer.detail == "1 callers ahead; about 4 min"

    def test_earlier_callbacks_lengthen_the_wait(self) -> None:
        """A pending callback whose caller joined earlier counts as one more ahead; a later one does not."""
        desk = Desk(members=BUSY)
        desk.join("1.1", START - 600)
        desk.join("2.1", START - 300)
        desk.press_key("2.1", START)
        desk.pending(20, START - 900, number="2025550188")
        desk.pending(21, START - 10, number="2025550199")
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.position, offer.minutes) == (2, 8)  # ceil(3 / 2) rounds of 240 s

    def test_a_free_member_for_them_is_about_one_minute(self) -> None:
        """No one ahead and a free member: no wait, which the caller hears as one minute."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        desk.join("2.1", START - 30)
        desk.press_key("2.1", START)
        offer = desk.callbacks.offer("2.1", START)
        assert offer.offered and (offer.position, offer.minutes) == (1, 1)

    def test_disabled(self) -> None:
        """queue_callback.enabled false refuses every offer, with the caller's place for going back."""
        desk = Desk(cfg(enabled=False), members=BUSY)
        desk.join("2.1", START - 300)
        desk.press_key("2.1", START)
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.offered, offer.reason, offer.queue, offer.position) == (False, "disabled", "support", 1)

    def test_queue_full_at_max_pending(self) -> None:
        """max_pending callbacks of the same queue refuse more; those of another queue do not count."""
        desk = Desk(cfg(max_pending=2), members=BUSY)
        desk.join("2.1", START - 300)
        desk.press_key("2.1", START)
        desk.pending(20, START - 900, number="2025550188")
        desk.pending(21, START - 800, number="2025550199", queue="sales")
        assert desk.callbacks.offer("2.1", START).offered
        desk.pending(22, START - 700, number="2025550177")
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.offered, offer.reason) == (False, "queue_full")
        assert "2 callbacks already wait in support" in offer.detail

    def test_closed_now(self) -> None:
        """Outside the queue's business hours no callback is offered."""
        desk = Desk(cfg(hours=LATER_HOURS), members=(member("PJSIP/agent1"),))
        desk.join("2.1", START - 30)
        desk.press_key("2.1", START)
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.offered, offer.reason) == (False, "closed")
        assert "outside business hours" in offer.detail

    def test_closes_first(self) -> None:
        """Two callers ahead and one busy member: 12 minutes, past the 08:10 closing; refused."""
        desk = Desk(cfg(hours=CLOSING_HOURS), members=(member("PJSIP/agent1", status=2),))
        desk.join("1.1", START - 600)
        desk.join("3.1", START - 500)
        desk.join("2.1", START - 300)
        desk.press_key("2.1", START)
        offer = desk.callbacks.offer("2.1", START)
        assert (offer.offered, offer.reason) == (False, "closes_first")
        assert "12 min" in offer.detail

    def test_served_before_closing_is_offered(self) -> None:
        """The same hours with a free member and no one ahead: served at once, offered."""
        desk = Desk(cfg(hours=CLOSING_HOURS), members=(member("PJSIP/agent1"),))
        desk.join("2.1", START - 300)
        desk.press_key("2.1", START)
        assert desk.callbacks.offer("2.1", START).offered

    def test_queue_override_hours_apply(self) -> None:
        """A queue whose override closes it refuses; the base policy's always-open queues still offer."""
        settings = parse_settings(
            {"policy": {"queue_overrides": {"sales": {"hours": LATER_HOURS}}}},
            env={},
        )
        desk = Desk(settings, members=(member("PJSIP/agent1"), member("PJSIP/agent1", queue="sales")))
        desk.join("2.1", START - 30)
        desk.join("4.1", START - 30, queue="sales")
        desk.press_key("2.1", START)
        desk.press_key("4.1", START, queue="sales")
        assert desk.callbacks.offer("2.1", START).offered
        assert desk.callbacks.offer("4.1", START).reason == "closed"


class TestRequest:
    """The caller's choice: refused, merged into their pending callback, or a new one to store."""

    def _desk(self, settings: Settings | None = None) -> Desk:
        desk = Desk(settings, members=BUSY)
        desk.join("1.1", START - 600)
        desk.join("2.1", START - 300, number="2025550123")
        desk.press_key("2.1", START)
        return desk

    def test_not_offered(self) -> None:
        """A request from a caller who would not be offered one is refused, and no number is checked."""
        desk = self._desk(cfg(enabled=False))
        answer = desk.callbacks.request(asked(), START + 5)
        assert isinstance(answer, RequestAnswer) and answer.result == "not_offered" and not answer.ok
        assert desk.checked == []

    @pytest.mark.parametrize(("number", "reason"), [("911", "emergency"), ("112", "emergency"), ("12345", "short")])
    def test_number_refused(self, number: str, reason: str) -> None:
        """An emergency or short service number keyed by the caller is never called back."""
        desk = self._desk()
        answer = desk.callbacks.request(asked(number=number, keyed=True), START + 5)
        assert isinstance(answer, RequestAnswer) and answer.result == "number_refused"
        assert reason in answer.detail and not answer.ok
        assert desk.checked == [(number, "support")]

    def test_new_request_is_a_record_request(self) -> None:
        """A new number: the request to store, with the caller's join time as its place."""
        desk = self._desk()
        answer = desk.callbacks.request(asked(number="2025550142", keyed=True), START + 5)
        assert answer == RecordRequest(
            queue="support",
            uniqueid="2.1",
            number="2025550142",
            number_key="+12025550142",
            dial_number="2025550142",
            dialled="100",
            channel="PJSIP/trunk-0000002a",
            joined_at=START - 300,
            due_at=START + 5,
            channel_prefix="redial",
            minutes=4,
            keyed=True,
        )

    @pytest.mark.parametrize("pending_number", ["2025550123", "+12025550123", "0012025550123"])
    def test_merged_into_a_pending_callback_of_the_same_number(self, pending_number: str) -> None:
        """A pending callback of the same customer in the same queue takes it, whatever the number's format."""
        desk = self._desk()
        desk.pending(20, START - 900, number=pending_number)
        answer = desk.callbacks.request(asked(number="+1 202 555 0123"), START + 5)
        assert isinstance(answer, RequestAnswer)
        assert (answer.result, answer.job_id, answer.ok) == ("merged", 20, True)
        assert answer.detail == "merged into callback 20"

    def test_merged_waiting_agent_job_keeps_its_older_place_in_the_minutes(self) -> None:
        """The minutes are those of the older place: nobody is ahead of a callback from before everyone."""
        desk = self._desk()
        desk.pending(20, START - 9000, state=JobState.WAITING_AGENT)
        answer = desk.callbacks.request(asked(), START + 5)
        assert isinstance(answer, RequestAnswer) and answer.result == "merged"
        assert answer.minutes == 4  # no one ahead of START - 9000, two busy members: one round

    def test_merge_of_an_older_place_keeps_the_older_place(self) -> None:
        """A request whose caller joined before the pending callback's keeps that older place.

        The same number waits twice (a company's main number, a second line): the later caller asked
        first. The request of the earlier one is merged, and the callback must keep the earlier join
        time, as Store.record_request and CallbackEngine.callback_stored do; the core answers "merged"
        at once and nothing ever moves the pending job's place.
        """
        desk = self._desk()  # caller 2.1 joined at START - 300
        pending = desk.pending(20, START - 100)
        answer = desk.callbacks.request(asked(), START + 5)
        held = desk.jobs.get(pending.id)
        kept = isinstance(answer, RecordRequest) or (held is not None and held.joined_at == START - 300)
        assert kept, f"answered {answer!r}; callback 20 still at {held.joined_at if held else None}"

    def test_no_merge_across_queues(self) -> None:
        """The same number pending in another queue gives a new request."""
        desk = self._desk()
        desk.pending(20, START - 900, queue="sales")
        answer = desk.callbacks.request(asked(), START + 5)
        assert isinstance(answer, RecordRequest) and answer.number_key == "+12025550123"

    def test_merged_into_a_callback_being_rung(self) -> None:
        """A callback of the same number being rung now takes the request: never a second dial."""
        desk = self._desk()
        desk.pending(21, START - 900, state=JobState.ORIGINATING)
        answer = desk.callbacks.request(asked(), START + 5)
        assert isinstance(answer, RequestAnswer) and (answer.result, answer.job_id) == ("merged", 21)


class TestPlan:
    """A due callback's turn: after every live caller who joined before it, to a free member."""

    def test_defer_outside_hours_until_the_next_opening(self) -> None:
        """Closed at 08:00 on a Friday open from 09:00: deferred to 09:00."""
        desk = Desk(cfg(hours=LATER_HOURS), members=(member("PJSIP/agent1"),))
        plan = desk.callbacks.plan(QUEUED, START, set())
        assert isinstance(plan, Defer) and plan.until == START + 3600
        assert "next opening" in plan.detail

    def test_defer_while_the_customer_is_on_a_live_call(self) -> None:
        """The customer is still on the line hearing the confirmation: never dialled meanwhile."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        desk.on_call.add("+12025550123")
        plan = desk.callbacks.plan(QUEUED, START, set())
        assert isinstance(plan, Defer) and plan.until == START + ON_CALL_RECHECK

    def test_wait_while_a_live_caller_who_joined_earlier_waits(self) -> None:
        """A caller who joined before the callback's caller goes first, though a member is free."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        desk.join("1.1", 999.0)
        desk.join("3.1", 1001.0)
        plan = desk.callbacks.plan(QUEUED, START, set())
        assert isinstance(plan, WaitForAgent) and plan.until == START + TURN_RECHECK
        assert plan.detail.startswith("1 callers who joined support earlier")

    def test_earlier_caller_of_another_queue_is_not_waited_for(self) -> None:
        """Only the callback's own queue's line counts."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        desk.join("1.1", 999.0, queue="sales")
        assert isinstance(desk.callbacks.plan(QUEUED, START, set()), Ring)

    def test_ring_when_only_later_joiners_wait(self) -> None:
        """Later joiners wait behind the callback: the free member is rung."""
        desk = Desk(members=(member("PJSIP/agent1", status=2), member("PJSIP/agent2")))
        desk.join("3.1", 1001.0)
        desk.join("4.1", 1500.0)
        plan = desk.callbacks.plan(QUEUED, START, set())
        assert plan == Ring("PJSIP/agent2", False, "its turn in support: ringing PJSIP/agent2, free longest")

    def test_earlier_caller_who_left_is_no_longer_waited_for(self) -> None:
        """Once the earlier caller leaves (answered, abandoned), the callback's turn comes."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        desk.join("1.1", 999.0)
        desk.callbacks.observe(left("1.1"), 1200.0)
        assert isinstance(desk.callbacks.plan(QUEUED, START, set()), Ring)

    def test_wait_when_no_member_is_free(self) -> None:
        """Busy or paused members are not rung: the callback waits for one."""
        members = (member("PJSIP/agent1", status=2), member("PJSIP/agent2", paused_reason="lunch"))
        plan = Desk(members=members).callbacks.plan(QUEUED, START, set())
        assert isinstance(plan, WaitForAgent) and "waiting for a free member" in plan.detail

    def test_the_member_idle_longest_is_rung(self) -> None:
        """Of two free members, the one whose last call is oldest."""
        members = (member("PJSIP/agent1", last_call=500), member("PJSIP/agent2", last_call=100))
        plan = Desk(members=members).callbacks.plan(QUEUED, START, set())
        assert isinstance(plan, Ring) and plan.interface == "PJSIP/agent2"

    def test_reserved_members_are_not_rung(self) -> None:
        """A member another job holds is skipped; with every free member reserved, the callback waits."""
        members = (member("PJSIP/agent1", last_call=100), member("PJSIP/agent2", last_call=500))
        desk = Desk(members=members)
        plan = desk.callbacks.plan(QUEUED, START, {"PJSIP/agent1"})
        assert isinstance(plan, Ring) and plan.interface == "PJSIP/agent2"
        both = desk.callbacks.plan(QUEUED, START, {"PJSIP/agent1", "PJSIP/agent2"})
        assert isinstance(both, WaitForAgent)

    def test_passed_over_member_is_skipped(self) -> None:
        """A member whose phone did not take it is skipped: another free one is rung, or the callback waits."""
        members = (member("PJSIP/agent1", last_call=100), member("PJSIP/agent2", last_call=500))
        desk = Desk(members=members)
        job = dataclasses.replace(QUEUED, passed_over=("PJSIP/agent1",))
        plan = desk.callbacks.plan(job, START, set())
        assert isinstance(plan, Ring) and plan.interface == "PJSIP/agent2"
        assert isinstance(desk.callbacks.plan(job, START, {"PJSIP/agent2"}), WaitForAgent)

    def test_passed_over_and_reserved_member_is_never_rung(self) -> None:
        """Ringing a passed-over member again still skips the reserved ones."""
        desk = Desk(members=(member("PJSIP/agent1"),))
        job = dataclasses.replace(QUEUED, passed_over=("PJSIP/agent1",))
        assert isinstance(desk.callbacks.plan(job, START, {"PJSIP/agent1"}), WaitForAgent)


def _ended(job: CallbackJob, outcome: Outcome, detail: str = "the customer did not answer") -> CallbackJob:
    return move(job, Trigger.ATTEMPT_ENDED, detail, outcome)


# The callback's attempt as it rings: the customer's leg is being dialled.
RINGING = dataclasses.replace(
    QUEUED,
    state=JobState.CUSTOMER_ANSWERED,
    originated_at=START - 30,
    ring_interface="PJSIP/agent2",
    passed_over=("PJSIP/agent1",),
    bridged_legs=1,
    rings=2,
)


class TestRetryAndFinal:
    """A customer not reached is tried again after the spacing, then kept ``unreached``."""

    @pytest.mark.parametrize(
        "outcome", [Outcome.CUSTOMER_NO_ANSWER, Outcome.CUSTOMER_BUSY, Outcome.CUSTOMER_NOT_CONFIRMED]
    )
    def test_not_reached_is_retried_after_the_spacing(self, outcome: Outcome) -> None:
        """Attempt 1 of 3 leads to attempt 2, due after the spacing, the attempt's traces cleared."""
        desk = Desk(cfg(spacing=600, attempts=3))
        retry = desk.callbacks.retry(RINGING, _ended(RINGING, outcome), START)
        assert retry is not None
        assert (retry.state, retry.due_at, retry.attempt, retry.outcome) == (JobState.WAITING, START + 600, 2, None)
        assert (retry.originated_at, retry.ring_interface, retry.passed_over, retry.bridged_legs) == (None, "", (), 0)
        assert retry.detail == f"attempt 2 of 3 in 600 s after {outcome.value}"
        assert retry.joined_at == RINGING.joined_at

    def test_attempts_then_unreached(self) -> None:
        """No answer, busy, not confirmed: the third attempt of three ends ``unreached``, naming the last."""
        desk = Desk(cfg(attempts=3))
        job = RINGING
        outcomes = [Outcome.CUSTOMER_NO_ANSWER, Outcome.CUSTOMER_BUSY, Outcome.CUSTOMER_NOT_CONFIRMED]
        for at, outcome in enumerate(outcomes):
            ended = _ended(job, outcome, f"ended {outcome.value}")
            following = desk.callbacks.retry(job, ended, START + at)
            if following is None:
                break
            job = dataclasses.replace(following, state=JobState.CUSTOMER_ANSWERED)
        assert following is None and ended.attempt == 3
        final = desk.callbacks.final(ended)
        assert (final.state, final.outcome) == (JobState.DONE, Outcome.UNREACHED)
        assert final.detail == (
            "not reached after 3 attempt(s); the last: ended customer_not_confirmed (customer_not_confirmed)"
        )

    def test_failed_is_never_retried(self) -> None:
        """An outcome not seen may have reached the customer: no second attempt."""
        desk = Desk(cfg(attempts=5))
        assert desk.callbacks.retry(RINGING, _ended(RINGING, Outcome.FAILED), START) is None

    def test_one_attempt_only(self) -> None:
        """attempts: 1 retries nothing."""
        desk = Desk(cfg(attempts=1))
        assert desk.callbacks.retry(RINGING, _ended(RINGING, Outcome.CUSTOMER_BUSY), START) is None

    @pytest.mark.parametrize(
        "outcome",
        [Outcome.CONNECTED, Outcome.CUSTOMER_CALLED_BACK, Outcome.CUSTOMER_ON_CALL, Outcome.CANCELLED],
    )
    def test_final_keeps_ends_that_are_no_failure(self, outcome: Outcome) -> None:
        """Connected, called back, on a call or cancelled stay as they are."""
        desk = Desk()
        ended = _ended(RINGING, outcome, "as it ended")
        assert desk.callbacks.retry(RINGING, ended, START) is None
        assert desk.callbacks.final(ended) is ended


class TestObserve:
    """The events that feed the line, and the caller who reached an agent."""

    def test_agent_connected_names_the_callers_key(self) -> None:
        """An agent answering a caller seen joining gives that caller's number key; others give None."""
        desk = Desk()
        desk.join("1.1", 100.0, number="202-555-0123")
        agent = ref("1.2", "1.1", "PJSIP/agent1-01")
        answered = ev.AgentConnected(ref("1.1", "1.1", "PJSIP/trunk-1.1"), agent, "support", "PJSIP/agent1", "Alice")
        assert desk.callbacks.observe(left("1.1"), 110.0) is None
        assert desk.callbacks.observe(answered, 110.0) == "+12025550123"
        stranger = dataclasses.replace(answered, ref=ref("8.1", "8.1", "PJSIP/trunk-8"))
        assert desk.callbacks.observe(stranger, 110.0) is None

    def test_line_version_moves_with_the_line(self) -> None:
        """The version the engine plans callbacks again on is the line's."""
        desk = Desk()
        before = desk.callbacks.line_version
        desk.join("1.1", 100.0)
        assert desk.callbacks.line_version == before + 1 == desk.line.version


class TestOriginate:
    """A redial's Originate made a queue callback's."""

    def test_callback_fields(self) -> None:
        """CALLBACK on the phone, the whisper and press-1 sounds, and the whole minutes since the request."""
        desk = Desk(cfg(press_timeout=7))
        base = OriginateRequest(
            redial_id=9,
            channel_id="redial-9-1-qcb-5.1",
            agent_interface="PJSIP/agent2",
            customer_number="2025550123",
            trunk="trunk",
            did="100",
            original_uniqueid="5.1",
            queue="support",
            context="redial-out",
            account="redial",
            caller_id_name="REDIAL",
            agent_ring_timeout=20,
            customer_ring_timeout=30,
            agent_name="Bob",
        )
        request = desk.callbacks.originate_request(base, QUEUED, QUEUED.dropped_at + 179)
        assert (request.callback, request.caller_id_name, request.agent_name) == (True, "CALLBACK", "")
        assert (request.waited_minutes, request.press_timeout) == (2, 7)
        assert request.agent_prompt == ("beep",) and request.agent_after == ("minutes",)
        assert request.customer_press == ("if-correct-press", "digits/1")
        assert request.customer_greeting == ("hello", "queue-thankyou")
        assert dataclasses.replace(request, **_BASE_FIELDS) == dataclasses.replace(base, **_BASE_FIELDS)


# The fields originate_request sets; everything else passes through.
_BASE_FIELDS: dict[str, object] = {
    "caller_id_name": "",
    "agent_prompt": (),
    "agent_after": (),
    "waited_minutes": None,
    "customer_greeting": (),
    "customer_press": (),
    "press_timeout": 5,
    "agent_name": "",
    "callback": False,
}


class TestCounts:
    """The callback funnel's metrics at a callback's end."""

    def test_reached_and_unreached(self) -> None:
        """A connected callback counts reached with its wait; an unreached one counts unreached."""
        desk = Desk()
        connected = _ended(RINGING, Outcome.CONNECTED)
        desk.callbacks.count_end(connected, RINGING.dropped_at + 300)
        desk.callbacks.count_end(desk.callbacks.final(_ended(RINGING, Outcome.CUSTOMER_BUSY)), START)
        sample = desk.metrics.registry.get_sample_value
        assert sample("redial_queue_callbacks_total", {"queue": "support", "event": "reached"}) == 1
        assert sample("redial_queue_callbacks_total", {"queue": "support", "event": "unreached"}) == 1
        assert sample("redial_queue_callback_wait_seconds_sum") == 300


class TestMinutes:
    """What the caller hears of a wait."""

    def test_whole_minutes_rounded_up_at_least_one(self) -> None:
        """0 s is one minute, 61 s two."""
        assert [minutes_of(s) for s in (0, 1, 60, 61, 600)] == [1, 1, 1, 2, 10]
