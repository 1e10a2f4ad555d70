"""Jobs that ended needing a person: nobody could take them, or their customer was never reached.

Never a quiet end: each is a warning in the log and a line in ``redial status``.
"""

from __future__ import annotations

import structlog

from redial.core.jobs import CallbackJob

# How many of the latest of each `redial status` lists.
_SHOWN = 50


class Attention:
    """The latest jobs a person must follow up, newest last."""

    def __init__(self, log: structlog.typing.FilteringBoundLogger) -> None:
        self._log = log
        self.callbacks_requested: list[dict[str, object]] = []
        self.unreached_jobs: list[dict[str, object]] = []

    def unreached(self, job: CallbackJob, now: float) -> None:
        """A queue callback's customer was never reached: a warning and a line in `status`, never a quiet end."""
        self._log.warning(
            "queue_callback_unreached",
            redial_id=job.id,
            customer=job.customer_number,
            queue=job.queue,
            attempts=job.attempt,
            detail=job.detail,
        )
        entry: dict[str, object] = {
            "redial_id": job.id,
            "customer": job.customer_number,
            "queue": job.queue,
            "attempts": job.attempt,
            "at": now,
            "detail": job.detail,
        }
        self.unreached_jobs = [*self.unreached_jobs[-(_SHOWN - 1) :], entry]

    def callback_requested(self, job: CallbackJob, now: float) -> None:
        """Nobody could take the job: never a quiet end, a warning and a line in `status`."""
        self._log.warning(
            "callback_requested",
            redial_id=job.id,
            call_id=job.call_id,
            customer=job.customer_number,
            queue=job.queue,
            agent=job.agent_interface,
            detail=job.detail,
        )
        entry: dict[str, object] = {
            "redial_id": job.id,
            "customer": job.customer_number,
            "queue": job.queue,
            "agent": job.agent_interface,
            "at": now,
            "detail": job.detail,
        }
        self.callbacks_requested = [*self.callbacks_requested[-(_SHOWN - 1) :], entry]
