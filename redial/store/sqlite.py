"""The SQLite store: every ended queue call, its decision, and every callback job's states.

WAL journal, a busy timeout, a schema version table and ordered migrations.
``calls.linkedid`` and ``redials.call_id`` are UNIQUE: a call is recorded once
and a drop can never get a second redial, whatever replays or restarts happen.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from redial.core.commands import NewJob, SaveJob
from redial.core.jobs import CallbackJob, CancelAnswer, JobKind, JobState, Outcome, Trigger, channel_id_for, move
from redial.core.tracker import EndedCall
from redial.exceptions import LostWrite, StoreError
from redial.policy.classify import Classification
from redial.policy.decide import Decision
from redial.store import schema
from redial.store.callbacks import CallbackWrites
from redial.store.calls import CallWrites, RecentDrops
from redial.store.erase import Erasure
from redial.store.promise_reports import PromiseReports
from redial.store.promises import PromiseWrites
from redial.store.reports import Reports
from redial.store.schema import statements_of

# Seconds a writer waits for another connection (the daemon, a CLI command) to finish.
_BUSY_TIMEOUT = 5.0

_REDIAL_SELECT = """
    SELECT r.id, r.call_id, c.linkedid, c.customer_uniqueid, c.customer_number, c.dialled,
           c.queue, c.agent_interface, c.agent_member, c.trunk, r.state, r.due_at,
           r.channel_id, r.originated_at, r.outcome, r.detail, r.attempt, r.dial_number,
           r.ring_interface, r.agent_deadline, r.paused_interface, c.ended_at, r.passed_over, r.rings,
           r.kind, r.revision, r.joined_at, r.note, r.promised_at, r.made_by, r.connected_at, r.late
    FROM redials r JOIN calls c ON c.id = r.call_id
"""


def _job(row: Sequence[Any]) -> CallbackJob:
    return CallbackJob(
        id=row[0],
        call_id=row[1],
        linkedid=row[2],
        original_uniqueid=row[3],
        customer_number=row[4],
        dialled=row[5],
        queue=row[6] or "",
        agent_interface=row[7] or "",
        agent_member=row[8] or "",
        trunk=row[9],
        state=JobState(row[10]),
        due_at=row[11],
        channel_id=row[12],
        originated_at=row[13],
        outcome=Outcome(row[14]) if row[14] else None,
        detail=row[15],
        attempt=row[16],
        dial_number=row[17] or row[4],
        ring_interface=row[18] or row[7] or "",
        agent_deadline=row[19],
        paused_interface=row[20],
        dropped_at=row[21],
        passed_over=tuple(row[22].split()) if row[22] else (),
        rings=row[23],
        kind=JobKind(row[24]),
        revision=row[25],
        joined_at=row[26],
        note=row[27],
        promised_at=row[28],
        made_by=row[29],
        connected_at=row[30],
        late=bool(row[31]),
    )


class Store(CallWrites, CallbackWrites, PromiseWrites, Reports, PromiseReports, Erasure):
    """Async access to the SQLite file. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self.recent_drops = RecentDrops()

    @classmethod
    async def open(cls, path: Path | str, check: bool = False) -> Store:
        """Open (and migrate) the store; ``check`` runs SQLite's quick_check (the daemon's start).

        quick_check reads the whole file: worth it once when the daemon starts, not on
        every CLI command.
        """
        name = str(path)
        if name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(name)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {name}: {exc}") from None
        store = cls(db, name)
        try:
            await store._prepare(check)
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreError(f"the store {name} is unusable: {exc}") from None
        except BaseException:
            # Never leave aiosqlite's worker thread behind on a refused store.
            await db.close()
            raise
        return store

    async def _prepare(self, check: bool) -> None:
        db = self._db
        await db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT * 1000)}")
        await self._set_wal()
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute("PRAGMA synchronous = NORMAL")
        # Customer numbers: what is purged or forgotten is overwritten, not left in free space.
        await db.execute("PRAGMA secure_delete = ON")
        if check:
            async with db.execute("PRAGMA quick_check") as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] != "ok":
                raise StoreError(f"the store {self.path} failed its integrity check: {row[0] if row else '?'}")
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        await db.commit()
        await self._migrate()

    async def _migrate(self) -> None:
        """Each step reads the version and bumps it inside one ``BEGIN IMMEDIATE``.

        A second process (the daemon and a CLI command, two units) opening the store at
        the same time waits for the first (busy_timeout) and then finds the step done:
        no step, a data-only one included, ever runs twice.
        """
        db = self._db
        migrations = schema.MIGRATIONS  # looked up here, so a test can add a step
        while True:
            await db.execute("BEGIN IMMEDIATE")
            try:
                current = await self.schema_version()
                if current > len(migrations):
                    raise StoreError(
                        f"the store {self.path} has schema version {current}, "
                        f"newer than this redial knows ({len(migrations)})"
                    )
                if current == len(migrations):
                    await db.commit()
                    return
                for statement in statements_of(migrations[current]):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version VALUES (?)", (current + 1,))
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def _set_wal(self) -> None:
        # Switching a fresh file to WAL needs it alone, and SQLite answers "locked" at
        # once instead of waiting (busy_timeout does not apply): retry for as long.
        deadline = asyncio.get_running_loop().time() + _BUSY_TIMEOUT
        while True:
            try:
                await self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def record_drop(
        self,
        call: EndedCall,
        classification: Classification,
        decision: Decision,
        now: float,
        number_e164: str,
        job: NewJob,
    ) -> tuple[int, CallbackJob] | None:
        """Insert the ended call and its job in one commit; ``None`` when this Linkedid was recorded before.

        Two commits would let a crash between them keep a call decided "redial" with no
        job, and the call's unique Linkedid would then block it for good.
        """
        try:
            call_id = await self._insert_call(call, classification, decision, now, number_e164)
            if call_id is None:
                await self._db.rollback()
                return None
            job_id = await self._insert_job(call_id, call.linkedid, job, now)
            await self._db.commit()
        except BaseException:
            await self._db.rollback()
            raise
        stored = await self.job(job_id)
        assert stored is not None
        return call_id, stored

    async def _insert_job(self, call_id: int, linkedid: str, job: NewJob, now: float) -> int:
        db = self._db
        detail = "waiting for the callback window"
        try:
            cursor = await db.execute(
                """INSERT INTO redials (call_id, state, due_at, channel_id, detail, updated_at, dial_number, created_at,
                                        passed_over, kind)
                   VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (
                    call_id,
                    JobState.WAITING.value,
                    job.due_at,
                    "",
                    detail,
                    now,
                    job.dial_number,
                    now,
                    " ".join(job.passed_over),
                    job.kind.value,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"call {call_id} already has a job") from exc
        job_id = cursor.lastrowid
        assert job_id is not None
        channel_id = channel_id_for(job.channel_prefix, job_id, 1, linkedid)
        await db.execute("UPDATE redials SET channel_id = ? WHERE id = ?", (channel_id, job_id))
        await db.execute(
            "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
            (job_id, now, JobState.WAITING.value, None, detail),
        )
        return job_id

    async def save_job(self, save: SaveJob, now: float) -> CallbackJob | None:
        """Write a job's new state, only over the state and revision it was moved from.

        A row that moved on meanwhile (another writer, a lost race) raises :class:`LostWrite`
        and nothing of the step is kept. ``save.ended_attempt``, the attempt this state
        follows, is logged in the same commit: the two are one step; so is
        ``save.then_promise``, the promise that takes over the job (returned once stored).
        """
        job = save.job
        db = self._db
        try:
            if save.ended_attempt is not None:
                ended = save.ended_attempt
                await db.execute(
                    "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
                    (job.id, now, ended.state.value, ended.outcome.value if ended.outcome else None, ended.detail),
                )
            cursor = await db.execute(
                """UPDATE redials SET state=?, due_at=?, originated_at=?, outcome=?, detail=?, updated_at=?,
                       channel_id=?, attempt=?, dial_number=?, ring_interface=?, agent_deadline=?, paused_interface=?,
                       passed_over=?, rings=?, revision=?, connected_at=?, late=?
                   WHERE id=? AND state=? AND revision=?""",
                (
                    job.state.value,
                    job.due_at,
                    job.originated_at,
                    job.outcome.value if job.outcome else None,
                    job.detail,
                    now,
                    job.channel_id,
                    job.attempt,
                    job.dial_number,
                    job.ring_interface,
                    job.agent_deadline,
                    job.paused_interface,
                    " ".join(job.passed_over),
                    job.rings,
                    job.revision,
                    job.connected_at,
                    int(job.late),
                    job.id,
                    save.expected_state.value,
                    save.expected_revision,
                ),
            )
            if cursor.rowcount != 1:
                raise LostWrite(
                    f"job {job.id} is no longer {save.expected_state.value} at revision {save.expected_revision}: "
                    f"not moved to {job.state.value}"
                )
            await db.execute(
                "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
                (job.id, now, job.state.value, job.outcome.value if job.outcome else None, job.detail),
            )
            promise_id = None
            if save.then_promise is not None:
                promise_id = await self._insert_promise(save.then_promise, now)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return None if promise_id is None else await self.job(promise_id)

    async def paused_interfaces(self) -> list[tuple[int, str, str]]:
        """Interfaces finished redials left paused: (redial id, interface, the redial's ChannelId).

        The daemon died before releasing them, or a connected redial still holds its agent.
        """
        async with self._db.execute(
            "SELECT id, paused_interface, channel_id FROM redials WHERE state = 'done' AND paused_interface IS NOT NULL"
        ) as cursor:
            rows = await cursor.fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def purge(self, before: float) -> int:
        """Delete calls that ended before ``before`` with everything recorded about them,
        except calls whose redial is still open, and the callback offers logged before it.
        The number of calls deleted."""
        old = """SELECT c.id FROM calls c LEFT JOIN redials r ON r.call_id = c.id
                 WHERE c.ended_at < ? AND (r.id IS NULL OR r.state = 'done')"""
        db = self._db
        await db.execute(
            f"DELETE FROM redial_log WHERE redial_id IN (SELECT id FROM redials WHERE call_id IN ({old}))", (before,)
        )
        await db.execute(f"DELETE FROM redials WHERE call_id IN ({old})", (before,))
        cursor = await db.execute(f"DELETE FROM calls WHERE id IN ({old})", (before,))
        # No number in them, but they would grow without end.
        await db.execute("DELETE FROM callback_offers WHERE at < ?", (before,))
        await db.commit()
        return cursor.rowcount

    async def cancel_redial(self, redial_id: int, by: str, now: float) -> CancelAnswer:
        """Cancel a pending job while the daemon is not running."""
        job = await self.job(redial_id)
        if job is None:
            return CancelAnswer(False, f"no redial {redial_id}")
        if job.state not in (JobState.WAITING, JobState.WAITING_AGENT):
            return CancelAnswer(
                False, f"redial {redial_id} is {job.state.value}: only a pending redial can be cancelled"
            )
        ended = move(job, Trigger.CANCEL, f"cancelled by {by}", Outcome.CANCELLED)
        await self.save_job(SaveJob.over(job, ended), now)
        return CancelAnswer(True, f"redial {redial_id} cancelled")

    async def forget_reservation(self, job_id: int, interface: str, now: float) -> None:
        """The agent a job reserved has been released (a newer reservation of the job stays)."""
        await self._db.execute(
            "UPDATE redials SET paused_interface = NULL, updated_at = ? WHERE id = ? AND paused_interface = ?",
            (now, job_id, interface),
        )
        await self._db.commit()

    async def job(self, job_id: int) -> CallbackJob | None:
        async with self._db.execute(_REDIAL_SELECT + " WHERE r.id = ?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return _job(row) if row else None

    async def open_jobs(self) -> list[CallbackJob]:
        """Every job not yet done, oldest first: what a restarted daemon must carry on."""
        async with self._db.execute(_REDIAL_SELECT + " WHERE r.state != 'done' ORDER BY r.id") as cursor:
            rows = await cursor.fetchall()
        return [_job(row) for row in rows]

    async def recent_redials(self, since: float) -> list[tuple[str, float]]:
        """(customer key, created at) of every job created at or after ``since``: the daily cap's memory."""
        async with self._db.execute(
            """SELECT c.number_e164, r.created_at FROM redials r JOIN calls c ON c.id = r.call_id
               WHERE r.created_at >= ? AND c.number_e164 != '' AND r.kind = 'drop_redial'""",
            (since,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]
