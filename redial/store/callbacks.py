"""Queue callbacks in the store: a request and its job in one commit (merged into a pending
one of the same number and queue), and the offers log the stats funnel reads."""

from __future__ import annotations

import sqlite3

import aiosqlite

from redial.core.commands import NewJob, RecordRequest
from redial.core.jobs import CallbackJob, JobKind
from redial.exceptions import StoreError


def _trunk_of(channel: str) -> str:
    """The endpoint of a channel name (PJSIP/trunk-0000001a -> trunk): the customer's trunk."""
    name = channel.partition("/")[2]
    return name.rpartition("-")[0] or name


class CallbackWrites:
    """Mixed into :class:`redial.store.sqlite.Store`."""

    _db: aiosqlite.Connection

    async def job(self, job_id: int) -> CallbackJob | None:
        raise NotImplementedError

    async def _insert_job(self, call_id: int, linkedid: str, job: NewJob, now: float) -> int:
        raise NotImplementedError

    async def record_request(self, request: RecordRequest, now: float) -> tuple[CallbackJob, bool]:
        """Store a queue callback's request with its job in one commit: (the job, False).

        A pending callback of the same number and queue takes it instead: (that job, True),
        its place the older of the two.
        """
        db = self._db
        try:
            async with db.execute(
                """SELECT r.id FROM redials r JOIN calls c ON c.id = r.call_id
                   WHERE r.kind = ? AND r.state != 'done' AND c.queue = ? AND c.number_e164 = ?""",
                (JobKind.QUEUE_CALLBACK.value, request.queue, request.number_key),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                await db.execute(
                    "UPDATE redials SET joined_at = MIN(COALESCE(joined_at, ?), ?) WHERE id = ?",
                    (request.joined_at, request.joined_at, row[0]),
                )
                await db.commit()
                merged = await self.job(int(row[0]))
                assert merged is not None
                return merged, True
            detail = f"queue callback requested for {'a keyed number' if request.keyed else 'the calling number'}"
            cursor = await db.execute(
                """INSERT INTO calls (linkedid, customer_uniqueid, customer_channel, customer_number, dialled, queue,
                       trunk, joined_at, ended_at, ended_by, transferred, classification, verdict, reason, detail,
                       recorded_at, number_e164)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
                    f"qcb-{request.uniqueid}",
                    request.uniqueid,
                    request.channel,
                    request.number,
                    request.dialled,
                    request.queue,
                    _trunk_of(request.channel),
                    request.joined_at,
                    now,
                    "caller",
                    0,
                    "queue_callback",
                    "callback",
                    "requested",
                    detail,
                    now,
                    request.number_key,
                ),
            )
            call_id = cursor.lastrowid
            assert call_id is not None
            new = NewJob(JobKind.QUEUE_CALLBACK, request.due_at, request.channel_prefix, request.dial_number)
            job_id = await self._insert_job(call_id, f"qcb-{request.uniqueid}", new, now)
            await db.execute("UPDATE redials SET joined_at = ? WHERE id = ?", (request.joined_at, job_id))
            await db.commit()
        except sqlite3.IntegrityError as exc:
            await db.rollback()
            raise StoreError(f"the callback request of {request.uniqueid} was stored before") from exc
        except BaseException:
            await db.rollback()
            raise
        stored = await self.job(job_id)
        assert stored is not None
        return stored, False

    async def log_offer(self, queue: str, event: str, detail: str, redial_id: int | None, now: float) -> None:
        """One step of a callback offer, for the stats funnel (no number in it)."""
        await self._db.execute(
            "INSERT INTO callback_offers (queue, at, event, detail, redial_id) VALUES (?,?,?,?,?)",
            (queue, now, event, detail, redial_id),
        )
        await self._db.commit()
