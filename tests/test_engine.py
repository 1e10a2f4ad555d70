"""Tests for redial.core.engine: the core driven by event lists alone, without asyncio, judged on its commands."""

from __future__ import annotations

import dataclasses

from structlog.testing import capture_logs

from redial.ami import events as ev
from redial.config import Settings, parse_settings
from redial.core.commands import (
    Command,
    ContinueLogin,
    Done,
    Failed,
    ForgetReservation,
    Originate,
    Pause,
    QueueLog,
    RecordCall,
    Recorded,
    RecordRequest,
    ResolveHint,
    Result,
    SaveJob,
    Unpause,
)
from redial.core.engine import CallbackEngine, LinkUp
from redial.core.jobs import CallbackJob, CancelAnswer, JobKind, JobState, Outcome, channel_id_for
from redial.core.queue_callbacks import CallbackRequest, RequestAnswer
from redial.exceptions import AmiError, AmiNotConnected
from tests.builders import QUEUED, drop, member, ref

START = 1_800_000_000.0


def cfg(**policy: object) -> Settings:
    return parse_settings({"policy": {"callback_window": 5, **policy}}, env={})


class Shell:
    """A shell that carries nothing out: it answers each command as a working PBX and store would.

    ``fail`` maps a command type to the error its next instances get (an AMI link that is down).
    """

    def __init__(self, engine: CallbackEngine) -> None:
        self.engine = engine
        self.log: list[Command] = []
        self.fail: dict[type, AmiError] = {}
        self.hints: dict[str, str] = {}
        self._ids = 0

    def run(self, commands: list[Command], now: float) -> list[Command]:
        done: list[Command] = []
        pending = list(commands)
        while pending:
            command = pending.pop(0)
            done.append(command)
            result = self._answer(command)
            if result is not None:
                pending[:0] = self.engine.on_result(result, now)
        self.log += done
        return done

    def _answer(self, command: Command) -> Result | None:
        if isinstance(command, (SaveJob, ForgetReservation)):
            return None
        if isinstance(command, RecordCall):
            self._ids += 1
            if command.job is None:
                return Done(command, Recorded(self._ids))
            job = command.job.created(self._ids, self._ids, command.call)
            return Done(command, Recorded(self._ids, job))
        error = self.fail.get(type(command))
        if error is not None:
            return Failed(command, error)
        if isinstance(command, ResolveHint):
            return Done(command, self.hints.get(f"{command.exten}@{command.context}", ""))
        return Done(command)

    def feed(self, events: list[ev.AmiEvent], now: float) -> list[Command]:
        out: list[Command] = []
        for event in events:
            out += self.run(self.engine.handle(event, now), now)
        return out

    def tick(self, now: float) -> list[Command]:
        return self.run(self.engine.tick(now), now)


def _engine(settings: Settings | None = None, members: tuple[ev.MemberState, ...] = ()) -> tuple[CallbackEngine, Shell]:
    engine = CallbackEngine(settings or cfg())
    shell = Shell(engine)
    shell.run(engine.handle(LinkUp(frozenset(), members), START), START)
    return engine, shell


def _kinds(commands: list[Command]) -> list[str]:
    return [type(c).__name__ for c in commands]


def _ringing(settings: Settings | None = None) -> tuple[CallbackEngine, Shell, CallbackJob]:
    engine, shell = _engine(settings, (member("PJSIP/agent1"), member("PJSIP/agent2")))
    shell.feed(drop(1), START)
    shell.tick(START + 6)
    (job,) = engine.jobs.sorted()
    return engine, shell, job


class TestDropToOriginate:
    """A drop is one RecordCall; its ring is stored before anything is sent."""

    def test_drop_records_call_and_job_in_one_command(self) -> None:
        engine, shell = _engine()
        out = shell.feed(drop(1), START)
        (record,) = [c for c in out if isinstance(c, RecordCall)]
        assert record.job is not None and record.job.due_at == START + 5
        assert [j.state for j in engine.jobs.sorted()] == [JobState.WAITING]

    def test_nothing_before_the_window(self) -> None:
        engine, shell = _engine()
        shell.feed(drop(1), START)
        assert engine.tick(START + 4) == []

    def test_write_ahead_order(self) -> None:
        """SaveJob(ORIGINATING, with the reservation) comes before the Pause, which comes before the Originate."""
        _, shell, job = _ringing()
        ring = shell.log[-4:]
        assert _kinds(ring) == ["SaveJob", "Pause", "Originate", "QueueLog"]
        save = ring[0]
        assert isinstance(save, SaveJob) and save.job.state is JobState.ORIGINATING
        assert save.job.paused_interface == "PJSIP/agent1" and save.expected_state is JobState.WAITING
        assert isinstance(ring[2], Originate) and ring[2].action["ChannelId"] == job.channel_id

    def test_revisions_chain(self) -> None:
        """Each SaveJob expects the revision the one before it wrote: a conditional update per step."""
        engine, shell, job = _ringing()
        shell.feed([ev.OriginateResult("x", True, 4, job.channel_id, "")], START + 7)
        saves = [c for c in shell.log if isinstance(c, SaveJob)]
        assert [(s.expected_revision, s.job.revision) for s in saves] == [(0, 1), (1, 2)]
        assert engine.jobs.sorted()[0].revision == 2


class TestLinkDown:
    """An Originate that never left is due again; nothing is sent twice."""

    def test_not_sent_waits_and_releases(self) -> None:
        engine, shell = _engine(members=(member("PJSIP/agent1"),))
        shell.feed(drop(1), START)
        shell.fail = {Originate: AmiNotConnected("down"), Unpause: AmiNotConnected("down")}
        out = shell.tick(START + 6)
        assert _kinds(out) == ["SaveJob", "Pause", "Originate", "SaveJob", "Unpause"]
        (job,) = engine.jobs.sorted()
        assert job.state is JobState.WAITING and job.due_at == START + 11
        # The unpause did not go out either: the reservation stays, for the next login.
        assert job.paused_interface == "PJSIP/agent1"
        shell.fail = {}
        login = shell.run(
            engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1", paused_reason="redial"),)), START + 8), START + 8
        )
        assert [c for c in login if isinstance(c, Unpause)] == [Unpause(1, "PJSIP/agent1", "redial")]
        assert engine.jobs.sorted()[0].paused_interface is None

    def test_in_flight_job_gone_after_reconnect_is_failed_once(self) -> None:
        engine, shell, _job = _ringing(cfg(retry={"attempts": 1}))
        out = shell.run(engine.handle(LinkUp(frozenset(), (member("PJSIP/agent1"),)), START + 9), START + 9)
        (save,) = [c for c in out if isinstance(c, SaveJob)]
        assert save.job.outcome is Outcome.FAILED and "gone" in save.job.detail
        assert engine.jobs.sorted() == [] and not [c for c in out if isinstance(c, Originate)]


class TestReservations:
    """One manager: held while talking, released after, never over the agent's own pause."""

    def _connected(self) -> tuple[CallbackEngine, Shell, CallbackJob]:
        engine, shell, job = _ringing()
        cid = job.channel_id
        agent, customer = ref(cid, cid, "PJSIP/agent1-1"), ref("9.9", cid, "PJSIP/trunk-9")
        shell.feed(
            [
                ev.OriginateResult("x", True, 4, cid, ""),
                ev.DialEnded(agent, customer, "ANSWER"),
                ev.BridgeEntered(agent, "b1"),
                ev.BridgeEntered(customer, "b1"),
            ],
            START + 8,
        )
        return engine, shell, job

    def test_connected_holds_until_the_agent_hangs_up(self) -> None:
        _, shell, job = self._connected()
        assert not [c for c in shell.log if isinstance(c, Unpause)]
        cid = job.channel_id
        out = shell.feed([ev.ChannelHungUp(ref(cid, cid, "PJSIP/agent1-1"), 16, "Normal")], START + 60)
        assert _kinds(out) == ["Unpause", "ForgetReservation"]

    def test_login_with_the_call_still_up_keeps_the_agent(self) -> None:
        engine, shell, job = self._connected()
        up = LinkUp(frozenset({job.channel_id}), (member("PJSIP/agent1", paused_reason="redial"),))
        assert not [c for c in shell.run(engine.handle(up, START + 30), START + 30) if isinstance(c, Unpause)]
        gone = LinkUp(frozenset(), (member("PJSIP/agent1", paused_reason="redial"),))
        assert Unpause(1, "PJSIP/agent1", "redial") in shell.run(engine.handle(gone, START + 40), START + 40)

    def test_agents_own_pause_is_left_alone(self) -> None:
        _, shell, job = _ringing(cfg(retry={"attempts": 1}))
        shell.feed([member("PJSIP/agent1", paused_reason="lunch")], START + 7)
        out = shell.feed([ev.OriginateResult("x", False, 3, job.channel_id, "")], START + 8)
        assert ForgetReservation(1, "PJSIP/agent1") in out
        assert not [c for c in out if isinstance(c, Unpause) and c.interface == "PJSIP/agent1"]


class TestCustomerAndOperator:
    """The customer calling again, and an operator's cancel."""

    def test_customer_calling_in_ends_the_waiting_job(self) -> None:
        engine, shell = _engine()
        shell.feed(drop(1), START)
        out = shell.feed(
            [ev.NewChannel(ref("5.1", "5.1", "PJSIP/trunk-5"), "2025550123", "from-trunk", "100")], START + 1
        )
        (save,) = [c for c in out if isinstance(c, SaveJob)]
        assert save.job.outcome is Outcome.CUSTOMER_CALLED_BACK and engine.tick(START + 10) == []

    def test_cancel_of_a_ringing_job_is_refused_without_commands(self) -> None:
        engine, _shell, job = _ringing()
        answer, commands = engine.cancel(job.id, "alice", START + 7)
        assert not answer.cancelled and "already ringing" in answer.text and commands == []

    def test_cancel_of_a_waiting_job_is_one_save(self) -> None:
        engine, shell = _engine()
        shell.feed(drop(1), START)
        answer, commands = engine.cancel(1, "alice", START + 1)
        assert answer == CancelAnswer(True, "redial 1 cancelled") and _kinds(commands) == ["SaveJob"]
        assert isinstance(commands[0], SaveJob) and commands[0].job.outcome is Outcome.CANCELLED


class TestHints:
    """A member whose phone is behind a dialplan hint is resolved before it is rung."""

    def test_unresolved_hint_is_asked_then_rung(self) -> None:
        hinted = ev.MemberState(
            "support", "Local/1001@from-queue/n", "Alice", "hint:1001@ext-local", 1, False, "", False, 0, 0
        )
        engine = CallbackEngine(cfg())
        shell = Shell(engine)
        shell.hints["1001@ext-local"] = "PJSIP/1001&Custom:DND1001"
        login = shell.run(engine.handle(LinkUp(frozenset(), (hinted,)), START), START)
        assert _kinds(login) == ["ResolveHint", "ContinueLogin"]
        assert isinstance(login[1], ContinueLogin)
        shell.feed(drop(1, agent="Local/1001@from-queue/n"), START)
        out = shell.tick(START + 6)
        (originate,) = [c for c in out if isinstance(c, Originate)]
        assert originate.action["Channel"] == "PJSIP/1001"
        assert [c.interface for c in out if isinstance(c, Pause)] == ["Local/1001@from-queue/n"]
        assert not [c for c in out if isinstance(c, QueueLog) and c.verb != "REDIALSTART"]


class TestNothingKeptForGoneJobs:
    """What the engine keeps per job goes with the job: a long-running daemon does not grow."""

    def test_plans_and_wrapup_ends_of_ended_jobs_are_dropped(self) -> None:
        engine, shell = _engine(cfg(agent={"wrapup_time": 600}), (member("PJSIP/agent1"),))
        for n in range(1, 4):
            shell.feed(drop(n, number=f"202555012{n}"), START)
        after_call = ev.MemberState(
            "support", "PJSIP/agent1", "Alice", "PJSIP/agent1", 1, False, "", False, int(START), 0
        )
        shell.feed([after_call], START + 1)
        shell.tick(START + 6)
        assert {j.state for j in engine.jobs} == {JobState.WAITING_AGENT}
        assert engine.attempts.wrapup_ends and engine.attempts._agent_plans
        for job in engine.jobs.sorted():
            shell.run(engine.cancel(job.id, "alice", START + 7)[1], START + 7)
        engine.next_wakeup()
        assert engine.attempts.wrapup_ends == {} and engine.attempts._agent_plans == {}


class TestJobReplaced:
    """A write that failed leaves the engine holding what the store holds, and says so when that is nothing."""

    def test_unreadable_job_is_set_aside_with_an_error(self) -> None:
        engine, shell = _engine()
        shell.feed(drop(1), START)
        with capture_logs() as logs:
            engine.replace_job(1, None)
        assert engine.jobs.sorted() == [] and engine.tick(START + 10) == []
        assert [entry["event"] for entry in logs] == ["redial_set_aside"]


def _join(uid: str, number: str, queue: str = "support") -> ev.QueueCallerJoined:
    return ev.QueueCallerJoined(ref(uid, uid, f"PJSIP/trunk-{uid}"), queue, number, "100")


def _leave(uid: str, queue: str = "support") -> ev.QueueCallerLeft:
    return ev.QueueCallerLeft(ref(uid, uid, f"PJSIP/trunk-{uid}"), queue, 1)


class _Callbacks:
    """Callers who ask for a queue callback, stored as a store would store them."""

    def __init__(self, engine: CallbackEngine, shell: Shell) -> None:
        self.engine, self.shell = engine, shell
        self.ids = 100

    def ask(self, uid: str, number: str, now: float) -> CallbackJob:
        """The caller of ``uid`` (who left the queue by the key) asks to be called back at ``number``."""
        asked = self.engine.request_callback(CallbackRequest(uid, number, False, "100", f"PJSIP/trunk-{uid}"), now)
        assert isinstance(asked, RecordRequest), asked
        self.ids += 1
        linkedid = f"qcb-{uid}"
        job = dataclasses.replace(
            QUEUED,
            id=self.ids,
            call_id=self.ids,
            linkedid=linkedid,
            original_uniqueid=uid,
            customer_number=number,
            queue=asked.queue,
            due_at=asked.due_at,
            channel_id=channel_id_for("redial", self.ids, 1, linkedid),
            dial_number=asked.dial_number,
            dropped_at=now,
            joined_at=asked.joined_at,
        )
        self.shell.run(self.engine.callback_stored(asked, job, False, now), now)
        return job


def _originates(commands: list[Command]) -> list[Originate]:
    return [c for c in commands if isinstance(c, Originate)]


def _callback_engine(*members: str) -> tuple[CallbackEngine, Shell, _Callbacks]:
    engine, shell = _engine(members=tuple(member(m) for m in members))
    return engine, shell, _Callbacks(engine, shell)


class TestQueueCallbacks:
    """A queue callback keeps its caller's place: after earlier live callers, before later ones, after due drops."""

    def test_rings_a_free_member_as_a_callback(self) -> None:
        """The Originate carries the callback's variables and the agent sees CALLBACK; queue_log says so."""
        _, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        (originate,) = _originates(shell.tick(START + 2))
        assert "REDIAL_KIND=callback" in originate.action["Variable"]
        assert "REDIAL_CONFIRM=1" in originate.action["Variable"]
        assert originate.action["CallerID"].startswith('"CALLBACK 2025550123"')
        verbs = [c.verb for c in shell.log if isinstance(c, QueueLog)]
        assert verbs == ["CALLBACKREQUESTED", "CALLBACKSTART"]

    def test_waiting_for_a_free_member_is_saved_once(self) -> None:
        """A callback waiting for a free member is stored once, not again at every one-second recheck."""
        engine, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([member("PJSIP/agent1", 2), _join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        saves = [c for t in range(30) for c in shell.tick(START + 2 + t) if isinstance(c, SaveJob)]
        assert len(saves) == 1 and engine.jobs.sorted()[0].state is JobState.WAITING_AGENT

    def test_never_ahead_of_an_earlier_live_caller(self) -> None:
        """A live caller who joined before the callback's caller is served first: no ring while they wait."""
        engine, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("6.1", "2025550111")], START)
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START + 10)
        asks.ask("7.1", "2025550123", START + 11)
        assert _originates(shell.tick(START + 12)) == []
        assert engine.jobs.sorted()[0].state is JobState.WAITING_AGENT
        shell.feed([_leave("6.1")], START + 20)
        assert len(_originates(shell.tick(START + 21))) == 1

    def test_ahead_of_a_later_live_caller(self) -> None:
        """A live caller who joined after the callback's caller does not hold it back."""
        _, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        shell.feed([_join("8.1", "2025550111")], START + 5)
        asks.ask("7.1", "2025550123", START + 6)
        assert len(_originates(shell.tick(START + 7))) == 1

    def test_drop_redial_goes_first(self) -> None:
        """Both due and one member free: the drop's redial rings, the callback waits."""
        engine, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        shell.feed(drop(1, number="2025550199"), START + 1)
        asks.ask("7.1", "2025550123", START + 2)
        (originate,) = _originates(shell.tick(START + 7))
        assert "REDIAL_KIND=callback" not in originate.action["Variable"]
        callback = next(j for j in engine.jobs if j.kind is JobKind.QUEUE_CALLBACK)
        assert callback.state is JobState.WAITING_AGENT

    def test_a_waiting_drop_keeps_its_agent(self) -> None:
        """A drop redial in its window holds its agent: the callback takes another free member."""
        _, shell, asks = _callback_engine("PJSIP/agent1", "PJSIP/agent2")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        shell.feed(drop(1, number="2025550199"), START + 1)
        asks.ask("7.1", "2025550123", START + 2)
        (originate,) = _originates(shell.tick(START + 3))
        assert "REDIAL_KIND=callback" in originate.action["Variable"]
        assert originate.action["Channel"] == "PJSIP/agent2"

    def test_not_dialled_while_the_customer_is_on_a_call(self) -> None:
        """The request's own call is still up (the confirmation plays): the callback waits for its end."""
        _, shell, asks = _callback_engine("PJSIP/agent1")
        caller = ref("7.1", "7.1", "PJSIP/trunk-7.1")
        shell.feed([ev.NewChannel(caller, "2025550123", "from-trunk", "100"), _join("7.1", "2025550123")], START)
        shell.feed([_leave("7.1")], START + 1)
        asks.ask("7.1", "2025550123", START + 2)
        assert _originates(shell.tick(START + 3)) == []
        shell.feed([ev.ChannelHungUp(caller, 16, "Normal Clearing")], START + 4)
        assert len(_originates(shell.tick(START + 9))) == 1

    def test_a_second_request_merges(self) -> None:
        """The same number asking again in the same queue gets the pending callback, not a second one."""
        engine, shell, asks = _callback_engine()
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        first = asks.ask("7.1", "2025550123", START + 1)
        shell.feed([_join("9.1", "+1 202-555-0123"), _leave("9.1")], START + 30)
        answer = engine.request_callback(CallbackRequest("9.1", "+1 202-555-0123", False), START + 31)
        assert isinstance(answer, RequestAnswer) and (answer.result, answer.job_id) == ("merged", first.id)
        assert len(engine.jobs) == 1

    def test_reaching_an_agent_cancels_it(self) -> None:
        """The caller calls in again and an agent answers: the pending callback ends customer_called_back."""
        engine, shell, asks = _callback_engine()
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        again = ref("9.1", "9.1", "PJSIP/trunk-9.1")
        agent = ref("9.2", "9.1", "PJSIP/agent1-9")
        shell.feed([_join("9.1", "2025550123"), _leave("9.1")], START + 60)
        shell.feed([ev.AgentConnected(again, agent, "support", "PJSIP/agent1", "Alice")], START + 61)
        assert len(engine.jobs) == 0
        ends = [c.job for c in shell.log if isinstance(c, SaveJob) and c.job.done]
        assert [j.outcome for j in ends] == [Outcome.CUSTOMER_CALLED_BACK]

    def test_an_agent_of_another_queue_does_not_cancel_it(self) -> None:
        """Answered in sales, the caller still waits for the support callback they asked for."""
        engine, shell, asks = _callback_engine()
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        again = ref("9.1", "9.1", "PJSIP/trunk-9.1")
        agent = ref("9.2", "9.1", "PJSIP/agent2-9")
        shell.feed([_join("9.1", "2025550123", "sales"), _leave("9.1", "sales")], START + 60)
        shell.feed([ev.AgentConnected(again, agent, "sales", "PJSIP/agent2", "Bob")], START + 61)
        assert [j.state for j in engine.jobs] == [JobState.WAITING]

    def test_every_member_failing_is_tried_again_after_a_pause(self) -> None:
        """The only member's phone does not answer: rung again 30 s later, never in a loop."""
        engine, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        job = asks.ask("7.1", "2025550123", START + 1)
        (first,) = _originates(shell.tick(START + 2))
        shell.feed([ev.OriginateResult("x", False, 3, first.action["ChannelId"], "")], START + 22)
        (held,) = engine.jobs.sorted()
        assert (held.id, held.state, held.passed_over, held.due_at) == (job.id, JobState.WAITING, (), START + 52)
        assert _originates(shell.tick(START + 30)) == []
        (again,) = _originates(shell.tick(START + 52))
        assert again.action["Channel"] == "PJSIP/agent1" and again.action["ChannelId"] != first.action["ChannelId"]

    def test_an_agent_whose_call_is_not_decided_is_not_taken(self) -> None:
        """agent1 shows free while their queue call's end (a drop?) is still followed: the callback waits."""
        _, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        answered = drop(1, number="2025550199")[:4]  # answered by agent1, not ended yet
        shell.feed([*answered, member("PJSIP/agent1")], START + 2)
        assert _originates(shell.tick(START + 3)) == []
        assert _originates(shell.tick(START + 3.05)) == []  # planned again, unchanged: nothing new to plan on
        # The call ends normally: planned again at once, before app_queue's next look for a member.
        customer, agent_leg = answered[0].ref, answered[2].ref
        hangups = [
            ev.ChannelHungUp(customer, 16, "Normal Clearing"),
            ev.ChannelHungUp(agent_leg, 16, "Normal Clearing"),
        ]
        shell.feed(hangups, START + 3.1)
        assert len(_originates(shell.tick(START + 3.1))) == 1

    def test_pending_callbacks_counted_after_a_restart(self) -> None:
        """The pending gauge shows the callbacks a previous run left open, before anything changes."""
        engine = CallbackEngine(cfg())
        engine.resume([QUEUED], [], [])
        gauge = engine.metrics.registry.get_sample_value("redial_queue_callbacks_pending", {"queue": "support"})
        assert gauge == 1.0

    def test_a_retried_callback_stays_pending_in_the_gauge(self) -> None:
        """A callback whose customer did not press 1 waits for its retry: still counted as pending."""
        engine, shell, asks = _callback_engine("PJSIP/agent1")
        shell.feed([_join("7.1", "2025550123"), _leave("7.1")], START)
        asks.ask("7.1", "2025550123", START + 1)
        (ring,) = _originates(shell.tick(START + 2))
        agent_leg = ref(ring.action["ChannelId"], ring.action["ChannelId"], "PJSIP/agent1-1")
        customer_leg = ref("8.1", ring.action["ChannelId"], "PJSIP/trunk-8")
        shell.feed([ev.DialEnded(caller=agent_leg, dest=customer_leg, status="CONTINUE")], START + 30)
        (held,) = engine.jobs.sorted()
        assert held.state is JobState.WAITING and held.attempt == 2
        gauge = engine.metrics.registry.get_sample_value("redial_queue_callbacks_pending", {"queue": "support"})
        assert gauge == 1.0
