"""Jobs that ended needing a person: nobody could take them, or their customer was never reached.

Never a quiet end: each is a warning in the log and a line in ``redial status``.
"""

from __future__ import annotations

import structlog

from redial.core.jobs import CallbackJob, JobKind

# How many of the latest of each `redial status` lists.
_SHOWN = 50


class Attention:
    """The latest jobs a person must follow up, newest last."""

    def __init__(self, log: structlog.typing.FilteringBoundLogger) -> None:
        self._log = log
        self.callbacks_requested: list[dict[str, object]] = []
        self.unreached_jobs: list[dict[str, object]] = []
        self.unreached_promises: list[dict[str, object]] = []

    def unreached(self, job: CallbackJob, now: float) -> None:
        """A queue callback's or a promise's customer was never reached."""
        if job.kind is JobKind.PROMISED_CALLBACK:
            owner = job.agent_member or job.agent_interface or "(queue)"
            self.unreached_promises = self._note(
                "promise_unreached", self.unreached_promises, job, now, attempts=job.attempt, owner=owner
            )
            return
        self.unreached_jobs = self._note(
            "queue_callback_unreached", self.unreached_jobs, job, now, attempts=job.attempt
        )

    def callback_requested(self, job: CallbackJob, now: float) -> None:
        """Nobody could take the job: a person must call the customer back."""
        self.callbacks_requested = self._note(
            "callback_requested", self.callbacks_requested, job, now, agent=job.agent_interface, call_id=job.call_id
        )

    def _note(
        self, event: str, kept: list[dict[str, object]], job: CallbackJob, now: float, **extra: object
    ) -> list[dict[str, object]]:
        """A warning, and ``kept`` with this job's line added (the latest _SHOWN)."""
        fields: dict[str, object] = {
            "redial_id": job.id,
            "customer": job.customer_number,
            "queue": job.queue,
            "detail": job.detail,
            **extra,
        }
        self._log.warning(event, **fields)
        return [*kept[-(_SHOWN - 1) :], {**fields, "at": now}]
