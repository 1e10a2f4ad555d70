"""Tests for redial.core.jobs: the transition table is the whole machine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redial.core.jobs import (
    IN_FLIGHT,
    PENDING,
    TRANSITIONS,
    CallbackJob,
    JobKind,
    JobState,
    Outcome,
    Trigger,
    move,
)
from redial.exceptions import InvalidTransition
from tests.builders import JOB


def _in(state: JobState) -> CallbackJob:
    return JOB.changed(state=state)


class TestTable:
    """What the table allows and what it refuses."""

    def test_done_is_final(self) -> None:
        """Nothing moves a finished job: no trigger has a row from DONE."""
        assert not [key for key in TRANSITIONS if key[0] is JobState.DONE]
        for trigger in Trigger:
            with pytest.raises(InvalidTransition, match="not allowed in done"):
                move(_in(JobState.DONE), trigger, "x", Outcome.FAILED)

    def test_ringing_only_from_pending(self) -> None:
        """RING (the step before an Originate) leaves only WAITING or WAITING_AGENT: never a second ring in flight."""
        assert {state for state, trigger in TRANSITIONS if trigger is Trigger.RING} == set(PENDING)
        for state in IN_FLIGHT:
            with pytest.raises(InvalidTransition):
                move(_in(state), Trigger.RING, "again")

    def test_cancel_only_before_ringing(self) -> None:
        """An operator's cancel cannot end a job whose Originate is out."""
        assert {state for state, trigger in TRANSITIONS if trigger is Trigger.CANCEL} == set(PENDING)

    def test_every_state_but_done_can_end(self) -> None:
        """No state is a dead end: each open state has a row to DONE."""
        open_states = set(JobState) - {JobState.DONE}
        ending = {state for (state, _), target in TRANSITIONS.items() if target is JobState.DONE}
        assert ending == open_states

    def test_next_member_and_retry_come_back_to_waiting(self) -> None:
        """Fallback to another member and a retry are moves of the open job, not new jobs."""
        for state in IN_FLIGHT:
            assert TRANSITIONS[state, Trigger.NEXT_MEMBER] is JobState.WAITING
            assert TRANSITIONS[state, Trigger.RETRY] is JobState.WAITING

    def test_table_cannot_be_changed_at_run_time(self) -> None:
        """The machine is fixed: the mapping is read-only."""
        with pytest.raises(TypeError):
            TRANSITIONS[JobState.DONE, Trigger.RING] = JobState.ORIGINATING  # type: ignore[index]


class TestMove:
    """move() applies a row and its facts."""

    def test_done_needs_an_outcome(self) -> None:
        with pytest.raises(InvalidTransition, match="outcome"):
            move(JOB, Trigger.GIVE_UP, "no outcome")

    def test_open_state_takes_no_outcome(self) -> None:
        with pytest.raises(InvalidTransition, match="outcome"):
            move(JOB, Trigger.DEFER, "later", Outcome.FAILED)

    def test_retry_clears_the_outcome(self) -> None:
        ended = _in(JobState.ORIGINATING).changed(outcome=Outcome.CUSTOMER_BUSY)
        again = move(ended, Trigger.RETRY, "attempt 2", due_at=99.0, attempt=2)
        assert (again.state, again.outcome, again.due_at, again.attempt) == (JobState.WAITING, None, 99.0, 2)

    def test_kind_and_revision_kept(self) -> None:
        moved = move(JOB.changed(revision=4), Trigger.RING, "ringing", originated_at=11.0)
        assert (moved.kind, moved.revision, moved.state) == (JobKind.DROP_REDIAL, 4, JobState.ORIGINATING)

    @given(st.sampled_from(list(JobState)), st.sampled_from(list(Trigger)))
    def test_move_follows_the_table_exactly(self, state: JobState, trigger: Trigger) -> None:
        """Any (state, trigger): the table's target, or a refusal."""
        target = TRANSITIONS.get((state, trigger))
        outcome = Outcome.FAILED if target is JobState.DONE else None
        if target is None:
            with pytest.raises(InvalidTransition):
                move(_in(state), trigger, "x", outcome)
        else:
            assert move(_in(state), trigger, "x", outcome).state is target
