"""What the engine does at each AMI login: the queue members and lines, then calls and jobs taken up.

Mixed into :class:`redial.core.engine.CallbackEngine`, whose state it reads and moves.
"""

from __future__ import annotations

import structlog

from redial.ami import events as ev
from redial.core.adopt import calls_in_progress
from redial.core.agents import AgentBoard
from redial.core.attempts import Attempts
from redial.core.commands import Command, ContinueLogin
from redial.core.inputs import LinkUp
from redial.core.intake import Intake
from redial.core.jobs import IN_FLIGHT, JobState, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from redial.core.queue_line import QueueLine
from redial.core.tracker import CallTracker


class LoginHandling:
    """The engine's handling of a login (see ``CallbackEngine``)."""

    board: AgentBoard
    line: QueueLine
    attempts: Attempts
    intake: Intake
    tracker: CallTracker
    jobs: OpenJobs
    _log: structlog.typing.FilteringBoundLogger
    _pbx_started: str

    def _on_event(self, item: ev.AmiEvent, now: float) -> list[Command]:
        raise NotImplementedError

    # ---- logins -----------------------------------------------------------------------
    def _on_link_up(self, link: LinkUp, now: float) -> list[Command]:
        """The queue members first, and the phones behind their hints, which taking up calls needs."""
        commands: list[Command] = []
        if link.members is not None:
            self.board.reset(link.members)
            keys = {w.caller_number: self.intake.customer_key(w.caller_number) for w in link.waiting}
            self.line.reset(link.waiting, now, keys)
            self.attempts.hints_asked.clear()
            commands += [self.attempts.resolve_hint(state) for state in sorted(self.board.hints())]
        return [*commands, ContinueLogin(link)]

    def _login_continued(self, link: LinkUp, now: float) -> list[Command]:
        commands: list[Command] = []
        # Calls that were up before this login (the daemon (re)started mid-call): follow
        # them from here, so their drop is seen too.
        taken_up = 0
        for found in calls_in_progress(link.channels, self.board.member_at, self.tracker.is_own):
            taken_up += self.tracker.take_up(found, now)
        if taken_up:
            self._log.info("calls_taken_up", calls=taken_up)
        for event in link.events:
            commands += self._on_event(event, now)
        # Calls that began during the snapshot are alive too, though it does not show them.
        alive = link.linkedids | {e.ref.linkedid for e in link.events if isinstance(e, ev.NewChannel)}
        restarted = bool(self._pbx_started and link.pbx_started and link.pbx_started != self._pbx_started)
        if link.pbx_started:
            self._pbx_started = link.pbx_started
        tracked = len(self.tracker)
        lost = self.tracker.end_gone(alive, now, pbx_restarted=restarted)
        forgotten = tracked - len(self.tracker) - len(lost)
        if restarted:
            self._log.warning("pbx_restarted", started=link.pbx_started, calls_cut=len(lost))
        if forgotten:
            self._log.warning("calls_lost_while_disconnected", calls=forgotten)
        for call in lost:
            commands += self.intake.call_ended(call, now)
        # Events may have been lost while the link was down: a job in flight whose
        # channels are gone from the PBX will never report its outcome.
        for job in self.jobs:
            if job.state is JobState.TALKING and job.channel_id not in alive:
                # A promise's conversation ended while the link was down: kept (never called twice).
                detail = "kept: the conversation ended while the AMI link was down"
                commands += self.attempts.finish(job, move(job, Trigger.CONNECTED, detail, Outcome.CONNECTED), now)
            elif job.state in IN_FLIGHT and job.channel_id not in alive:
                detail = "outcome unknown: its channels were gone when the AMI link came back"
                commands += self.attempts.finish(job, move(job, Trigger.EXPIRED, detail, Outcome.FAILED), now)
        # Agents a killed daemon left reserved, and connected redials whose call ended meanwhile.
        commands += self.attempts.forgotten(self.attempts.reservations.link_up(alive, now))
        self.intake.forget_old(now)
        self.line.forget_old(now)
        return commands
