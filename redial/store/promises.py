"""Promised callbacks in the store: a promise and its job in one commit, and what a new one needs
to know of the customer's latest call (its trunk, the number they dialled, the agent)."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

from redial.core.commands import NewJob, RecordPromise
from redial.core.jobs import CallbackJob, JobKind
from redial.exceptions import StoreError


class PromiseWrites:
    """Mixed into :class:`redial.store.sqlite.Store`."""

    _db: aiosqlite.Connection

    async def job(self, job_id: int) -> CallbackJob | None:
        raise NotImplementedError

    async def _insert_job(self, call_id: int, linkedid: str, job: NewJob, now: float) -> int:
        raise NotImplementedError

    async def record_promise(self, promise: RecordPromise, now: float) -> CallbackJob:
        """Store ``promise`` with its job in one commit; StoreError if its key was stored before."""
        try:
            job_id = await self._insert_promise(promise, now)
            await self._db.commit()
        except sqlite3.IntegrityError as exc:
            await self._db.rollback()
            raise StoreError(f"the promise {promise.key} was stored before") from exc
        except BaseException:
            await self._db.rollback()
            raise
        stored = await self.job(job_id)
        assert stored is not None
        return stored

    async def _insert_promise(self, promise: RecordPromise, now: float) -> int:
        """The rows of a promise, uncommitted (the caller commits: alone, or with the drop it replaces)."""
        db = self._db
        linkedid = f"prm-{promise.key}"
        cursor = await db.execute(
            """INSERT INTO calls (linkedid, customer_uniqueid, customer_channel, customer_number, dialled, queue,
                   trunk, agent_interface, agent_member, ended_at, ended_by, transferred, classification, verdict,
                   reason, detail, recorded_at, number_e164)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                linkedid,
                promise.original_uniqueid or linkedid,
                "",
                promise.number,
                promise.dialled,
                promise.queue,
                promise.trunk,
                promise.owner_interface or None,
                promise.owner_member or None,
                now,
                promise.source,
                0,
                "promise",
                "promise",
                promise.source,
                f"promised by {promise.made_by}" + (f" for {promise.owner_member}" if promise.owner_member else ""),
                now,
                promise.number_key,
            ),
        )
        call_id = cursor.lastrowid
        assert call_id is not None
        new = NewJob(JobKind.PROMISED_CALLBACK, promise.due_at, promise.channel_prefix, promise.dial_number)
        job_id = await self._insert_job(call_id, linkedid, new, now)
        await db.execute(
            "UPDATE redials SET note = ?, promised_at = ?, made_by = ?, detail = ? WHERE id = ?",
            (promise.note, promise.due_at, promise.made_by, "promised: waiting for the time promised", job_id),
        )
        return job_id

    async def latest_call(self, number_key: str, call: str = "") -> dict[str, Any] | None:
        """The latest recorded call of a customer (or the call whose Uniqueid or Linkedid is ``call``)."""
        if call:
            sql = "SELECT * FROM calls WHERE linkedid = ? OR customer_uniqueid = ? ORDER BY id DESC LIMIT 1"
            args: tuple[str, ...] = (call, call)
        else:
            sql = "SELECT * FROM calls WHERE number_e164 = ? AND classification != 'promise' ORDER BY id DESC LIMIT 1"
            args = (number_key,)
        self._db.row_factory = aiosqlite.Row
        try:
            async with self._db.execute(sql, args) as cursor:
                row = await cursor.fetchone()
        finally:
            self._db.row_factory = None
        return dict(row) if row is not None else None

    async def latest_trunk(self, queue: str) -> str:
        """The trunk the latest call of ``queue`` came in on ("" if none is known)."""
        async with self._db.execute(
            "SELECT trunk FROM calls WHERE queue = ? AND trunk != '' AND classification NOT IN ('promise') "
            "ORDER BY id DESC LIMIT 1",
            (queue,),
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else ""
