"""Tests for redial.core.open_jobs: the open jobs, their writes and their deadlines."""

from __future__ import annotations

import structlog

from redial.core.jobs import JobState, Outcome, Trigger, move
from redial.core.open_jobs import OpenJobs
from tests.builders import JOB


def _jobs() -> OpenJobs:
    return OpenJobs(structlog.get_logger("test"))


class TestSave:
    """A save expects what is held and holds what it writes."""

    def test_save_is_conditional_on_what_is_held(self) -> None:
        jobs = _jobs()
        jobs.put(JOB.changed(revision=3))
        save = jobs.save(move(JOB.changed(revision=3), Trigger.RING, "ringing", originated_at=11.0))
        assert (save.expected_state, save.expected_revision, save.job.revision) == (JobState.WAITING, 3, 4)
        held = jobs.get(JOB.id)
        assert held is not None and held.revision == 4 and held.state is JobState.ORIGINATING

    def test_done_job_leaves(self) -> None:
        jobs = _jobs()
        jobs.put(JOB)
        jobs.save(move(JOB, Trigger.CANCEL, "cancelled", Outcome.CANCELLED))
        assert len(jobs) == 0 and JOB.id not in jobs

    def test_every_change_moves_the_version(self) -> None:
        jobs = _jobs()
        versions = [jobs.version]
        jobs.put(JOB)
        versions.append(jobs.version)
        jobs.save(move(JOB, Trigger.DEFER, "later", due_at=20.0))
        versions.append(jobs.version)
        jobs.drop(JOB.id)
        versions.append(jobs.version)
        assert versions == sorted(set(versions))


class TestDeadlines:
    """When the engine next has work."""

    def test_waiting_due_and_in_flight_expiry(self) -> None:
        jobs = _jobs()
        jobs.put(JOB.changed(due_at=50.0))
        jobs.put(JOB.changed(id=8, state=JobState.ORIGINATING, originated_at=10.0))
        deadlines = jobs.deadlines(timeout=30.0)
        assert (deadlines.work_at, deadlines.wakeup, deadlines.agent_wait) == (40.0, 40.0, False)

    def test_waiting_for_agent_is_no_work_until_its_deadline(self) -> None:
        jobs = _jobs()
        jobs.put(JOB.changed(state=JobState.WAITING_AGENT, agent_deadline=90.0))
        deadlines = jobs.deadlines(timeout=30.0)
        assert deadlines.work_at == float("inf") and deadlines.wakeup == 90.0 and deadlines.agent_wait

    def test_a_promises_talk_has_no_deadline(self) -> None:
        """A promise's conversation (TALKING) never expires: no work and no wake-up for it, however long it lasts."""
        jobs = _jobs()
        jobs.put(JOB.changed(state=JobState.TALKING, originated_at=10.0, connected_at=20.0))
        deadlines = jobs.deadlines(timeout=30.0)
        assert (deadlines.work_at, deadlines.wakeup) == (float("inf"), None)

    def test_reserved_members(self) -> None:
        jobs = _jobs()
        jobs.put(JOB.changed(state=JobState.ORIGINATING, ring_interface="PJSIP/agent2"))
        jobs.put(JOB.changed(id=8, paused_interface="PJSIP/agent3", ring_interface="PJSIP/agent3"))
        assert jobs.reserved(exclude=-1) == {"PJSIP/agent2", "PJSIP/agent3"}
        assert jobs.reserved(exclude=8) == {"PJSIP/agent2"}
