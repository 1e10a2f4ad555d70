"""What the engine asks its shell to do, and what the shell reports back. Plain data, no I/O.

The engine returns commands in the order they must happen: a ``SaveJob`` always comes
before the ``Pause`` or ``Originate`` it leads to, and the shell stops a batch at the
first write that fails. Each command the shell carries out may give a result
(:class:`Done` or :class:`Failed`) that it hands straight back to the engine, whose
answer runs before the rest of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from redial.ami.actions import Action
from redial.core.inputs import LinkUp
from redial.core.jobs import CallbackJob, JobKind, JobState, channel_id_for
from redial.core.tracker import EndedCall
from redial.exceptions import AmiError
from redial.policy.classify import Classification
from redial.policy.decide import Decision


@dataclass(frozen=True, slots=True)
class NewJob:
    """The job to create with a recorded call (one commit for both)."""

    kind: JobKind
    due_at: float
    channel_prefix: str
    dial_number: str
    passed_over: tuple[str, ...] = ()

    def created(self, job_id: int, call_id: int, call: EndedCall) -> CallbackJob:
        """The job as a store gives it back once created (ids its own): WAITING, at revision 0."""
        return CallbackJob(
            id=job_id,
            call_id=call_id,
            linkedid=call.linkedid,
            original_uniqueid=call.customer_uniqueid,
            customer_number=call.customer_number,
            dialled=call.dialled,
            queue=call.queue or "",
            agent_interface=call.agent_interface or "",
            agent_member=call.agent_member or "",
            trunk=call.trunk,
            state=JobState.WAITING,
            due_at=self.due_at,
            channel_id=channel_id_for(self.channel_prefix, job_id, 1, call.linkedid),
            detail="waiting for the callback window",
            dial_number=self.dial_number or call.customer_number,
            ring_interface=call.agent_interface or "",
            dropped_at=call.ended_at,
            passed_over=self.passed_over,
            kind=self.kind,
        )


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """Store a queue callback's request and its job in one commit, before the caller hears it confirmed.

    The store gives back the new job, or the pending one of the same number and queue
    (merged: it keeps the older place).
    """

    queue: str
    uniqueid: str
    number: str
    number_key: str
    dial_number: str
    dialled: str
    channel: str
    joined_at: float
    due_at: float
    channel_prefix: str
    minutes: int
    keyed: bool


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell the admin (``promise.webhook``): sent in the background, never in the way of the calls."""

    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class RecordPromise:
    """Store a promised callback (a call row of its own and its job) in one commit, before anyone
    is told it exists. ``key`` makes it once only: a second write with the same key is refused."""

    key: str
    number: str
    number_key: str
    dial_number: str
    dialled: str
    queue: str
    trunk: str
    owner_interface: str
    owner_member: str
    due_at: float
    note: str
    made_by: str
    source: str
    # The call it follows up (queue_log and CDR link to it); "" for none.
    original_uniqueid: str
    channel_prefix: str


@dataclass(frozen=True, slots=True)
class RecordCall:
    """Store an ended call with its decision and, for a drop to redial, its job."""

    call: EndedCall
    classification: Classification
    decision: Decision
    number_key: str
    job: NewJob | None
    log_fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class SaveJob:
    """Store ``job`` if the stored row is still at ``expected`` (state and revision): a conditional update.

    ``ended_attempt``, the attempt this state follows, is logged in the same commit.
    """

    job: CallbackJob
    expected_state: JobState
    expected_revision: int
    ended_attempt: CallbackJob | None = None
    # A drop redial nobody could take becomes a promise owned by the queue: in the same commit.
    then_promise: RecordPromise | None = None

    @classmethod
    def over(
        cls,
        held: CallbackJob,
        moved: CallbackJob,
        ended_attempt: CallbackJob | None = None,
        then_promise: RecordPromise | None = None,
    ) -> SaveJob:
        """The write of ``moved`` over ``held`` (the job as stored now): one revision on."""
        return cls(moved.changed(revision=held.revision + 1), held.state, held.revision, ended_attempt, then_promise)


@dataclass(frozen=True, slots=True)
class ForgetReservation:
    """The agent a job reserved is free again (or paused by themselves): store it."""

    job_id: int
    interface: str


@dataclass(frozen=True, slots=True)
class Pause:
    """QueuePause ``interface`` (reserve it for a job)."""

    job_id: int
    interface: str
    reason: str


@dataclass(frozen=True, slots=True)
class Unpause:
    """Release an agent the daemon reserved."""

    job_id: int
    interface: str
    reason: str


@dataclass(frozen=True, slots=True)
class Originate:
    """Send the Originate of a job whose ORIGINATING state is already stored."""

    job: CallbackJob
    action: Action
    fallback: bool


@dataclass(frozen=True, slots=True)
class QueueLog:
    """An audit line in queue_log."""

    job_id: int
    verb: str
    action: Action


@dataclass(frozen=True, slots=True)
class ResolveHint:
    """Ask Asterisk which phone a ``hint:exten@context`` state interface names."""

    state_interface: str
    exten: str
    context: str
    # A job waiting to ring that member: attempted again once the answer is in.
    for_job: int | None = None


@dataclass(frozen=True, slots=True)
class ContinueLogin:
    """Apply the rest of a login once the hints asked before it are answered (nothing to carry out)."""

    link: LinkUp


Command = (
    ContinueLogin
    | Alert
    | RecordCall
    | RecordRequest
    | SaveJob
    | ForgetReservation
    | Pause
    | Unpause
    | Originate
    | QueueLog
    | ResolveHint
)


@dataclass(frozen=True, slots=True)
class Done:
    """A command was carried out; ``value`` is what it gave (a hint's text, a recorded call's ids)."""

    command: Command
    value: object = None


@dataclass(frozen=True, slots=True)
class Failed:
    """An AMI command failed: not sent (AmiNotConnected), refused, or sent without answer (AmiTimeout)."""

    command: Command
    error: AmiError


Result = Done | Failed


@dataclass(frozen=True, slots=True)
class Recorded:
    """What :class:`RecordCall` gave: the call's id and its job, or ``None`` when the call was recorded before."""

    call_id: int | None
    job: CallbackJob | None = None
