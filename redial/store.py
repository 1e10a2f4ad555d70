"""The SQLite store: every ended queue call, its decision, and every redial's states.

WAL journal, a busy timeout, a schema version table and ordered migrations.
``calls.linkedid`` and ``redials.call_id`` are UNIQUE: a call is recorded once
and a drop can never get a second redial, whatever replays or restarts happen.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from redial.core.redials import Outcome, Redial, RedialState, channel_id_for
from redial.core.tracker import EndedCall
from redial.exceptions import AlreadyRunning, StoreError
from redial.policy.classify import Classification
from redial.policy.decide import Decision

# Each entry moves the schema from version N to N+1; never edit a released one.
MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        linkedid TEXT NOT NULL UNIQUE,
        customer_uniqueid TEXT NOT NULL,
        customer_channel TEXT NOT NULL,
        customer_number TEXT NOT NULL,
        dialled TEXT NOT NULL,
        queue TEXT,
        trunk TEXT NOT NULL,
        agent_interface TEXT,
        agent_member TEXT,
        joined_at REAL,
        answered_at REAL,
        ended_at REAL NOT NULL,
        ended_by TEXT NOT NULL,
        cause INTEGER,
        soft_cause INTEGER,
        transferred INTEGER NOT NULL,
        agent_complete_reason TEXT,
        talk_time INTEGER,
        classification TEXT NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    CREATE INDEX calls_ended_at ON calls (ended_at);
    CREATE TABLE redials (
        id INTEGER PRIMARY KEY,
        call_id INTEGER NOT NULL UNIQUE REFERENCES calls (id),
        state TEXT NOT NULL,
        due_at REAL NOT NULL,
        channel_id TEXT NOT NULL,
        originated_at REAL,
        outcome TEXT,
        detail TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX redials_open ON redials (state) WHERE state != 'done';
    CREATE TABLE redial_log (
        id INTEGER PRIMARY KEY,
        redial_id INTEGER NOT NULL REFERENCES redials (id),
        at REAL NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX redial_log_redial ON redial_log (redial_id);
    """,
    # 2: retries, agent reservation, number rules.
    """
    ALTER TABLE redials ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE redials ADD COLUMN dial_number TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN ring_interface TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN agent_deadline REAL;
    ALTER TABLE redials ADD COLUMN paused_interface TEXT;
    ALTER TABLE redials ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
    UPDATE redials SET created_at = updated_at;
    ALTER TABLE calls ADD COLUMN number_e164 TEXT NOT NULL DEFAULT '';
    CREATE INDEX calls_number ON calls (number_e164);
    CREATE INDEX redials_created ON redials (created_at);
    """,
    # 3: members passed over (agent-side failures), one ChannelId per Originate.
    """
    ALTER TABLE redials ADD COLUMN passed_over TEXT NOT NULL DEFAULT '';
    ALTER TABLE redials ADD COLUMN rings INTEGER NOT NULL DEFAULT 0;
    UPDATE redials SET rings = CASE WHEN originated_at IS NULL AND state != 'done' THEN attempt - 1 ELSE attempt END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """A migration's statements (they hold no ";" of their own: no triggers, no literals with one)."""
    return [s.strip() for s in script.split(";") if s.strip()]


# Seconds a writer waits for another connection (the daemon, a CLI command) to finish.
_BUSY_TIMEOUT = 5.0

_REDIAL_SELECT = """
    SELECT r.id, r.call_id, c.linkedid, c.customer_uniqueid, c.customer_number, c.dialled,
           c.queue, c.agent_interface, c.agent_member, c.trunk, r.state, r.due_at,
           r.channel_id, r.originated_at, r.outcome, r.detail, r.attempt, r.dial_number,
           r.ring_interface, r.agent_deadline, r.paused_interface, c.ended_at, r.passed_over, r.rings
    FROM redials r JOIN calls c ON c.id = r.call_id
"""


def _redial(row: Sequence[Any]) -> Redial:
    return Redial(
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
        state=RedialState(row[10]),
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
    )


class StoreLock:
    """The running daemon's claim on its store, an exclusive ``flock`` on ``<store>.lock``.

    Two daemons on one store (a second unit, a manual ``redial run`` beside systemd's)
    would both see every drop and redial it twice. The kernel drops the lock when the
    process dies, so a crash never leaves it stale. CLI commands do not take it.
    """

    def __init__(self, store_path: Path | str) -> None:
        self.store_path = str(store_path)
        self.path = Path(self.store_path + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`AlreadyRunning` naming the holder's pid."""
        if self.store_path == ":memory:" or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise AlreadyRunning(
                f"another redial daemon{who} already runs with the store {self.store_path}; "
                "stop it first, or give this one its own store.path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: removing it would let a third process lock a new inode.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Store:
    """Async access to the SQLite file. Open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path

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
        migrations = MIGRATIONS
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
                for statement in _statements(migrations[current]):
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

    async def record_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str = ""
    ) -> int | None:
        """Insert the ended call; its row id, or ``None`` when this Linkedid was recorded before."""
        call_id = await self._insert_call(call, classification, decision, now, number_e164)
        await self._db.commit()
        return call_id

    async def record_drop(
        self,
        call: EndedCall,
        classification: Classification,
        decision: Decision,
        now: float,
        number_e164: str,
        due_at: float,
        channel_prefix: str,
        passed_over: tuple[str, ...] = (),
    ) -> tuple[int, Redial] | None:
        """Insert the ended call and its redial in one commit; ``None`` when this Linkedid was recorded before.

        Two commits would let a crash between them keep a call decided "redial" with no
        redial, and the call's unique Linkedid would then block it for good.
        """
        try:
            call_id = await self._insert_call(call, classification, decision, now, number_e164)
            if call_id is None:
                await self._db.rollback()
                return None
            redial_id = await self._insert_redial(
                call_id, due_at, channel_prefix, now, decision.dial_number, passed_over
            )
            await self._db.commit()
        except BaseException:
            await self._db.rollback()
            raise
        redial = await self.redial(redial_id)
        assert redial is not None
        return call_id, redial

    async def _insert_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str
    ) -> int | None:
        cursor = await self._db.execute(
            """INSERT OR IGNORE INTO calls (linkedid, customer_uniqueid, customer_channel, customer_number,
                   dialled, queue, trunk, agent_interface, agent_member, joined_at, answered_at, ended_at,
                   ended_by, cause, soft_cause, transferred, agent_complete_reason, talk_time,
                   classification, verdict, reason, detail, recorded_at, number_e164)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                call.linkedid,
                call.customer_uniqueid,
                call.customer_channel,
                call.customer_number,
                call.dialled,
                call.queue,
                call.trunk,
                call.agent_interface,
                call.agent_member,
                call.joined_at,
                call.answered_at,
                call.ended_at,
                call.ended_by.value,
                call.cause,
                call.soft_cause,
                int(call.transferred),
                call.agent_complete_reason,
                call.talk_time,
                classification.kind.value,
                decision.verdict.value,
                decision.reason.value,
                decision.detail,
                now,
                number_e164,
            ),
        )
        return cursor.lastrowid if cursor.rowcount == 1 else None

    async def create_redial(
        self,
        call_id: int,
        due_at: float,
        channel_prefix: str,
        now: float,
        dial_number: str = "",
        passed_over: tuple[str, ...] = (),
    ) -> Redial:
        """Create the WAITING redial of a recorded call, with its ChannelId (the idempotency key)."""
        try:
            redial_id = await self._insert_redial(call_id, due_at, channel_prefix, now, dial_number, passed_over)
            await self._db.commit()
        except BaseException:
            await self._db.rollback()
            raise
        redial = await self.redial(redial_id)
        assert redial is not None
        return redial

    async def _insert_redial(
        self,
        call_id: int,
        due_at: float,
        channel_prefix: str,
        now: float,
        dial_number: str,
        passed_over: tuple[str, ...],
    ) -> int:
        db = self._db
        try:
            cursor = await db.execute(
                """INSERT INTO redials (call_id, state, due_at, channel_id, detail, updated_at, dial_number, created_at,
                                        passed_over)
                   VALUES (?,?,?,?,?,?,?,?,?)""",
                (
                    call_id,
                    RedialState.WAITING.value,
                    due_at,
                    "",
                    "waiting for the callback window",
                    now,
                    dial_number,
                    now,
                    " ".join(passed_over),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"call {call_id} already has a redial") from exc
        redial_id = cursor.lastrowid
        assert redial_id is not None
        async with db.execute("SELECT linkedid FROM calls WHERE id = ?", (call_id,)) as cur:
            row = await cur.fetchone()
        assert row is not None
        channel_id = channel_id_for(channel_prefix, redial_id, 1, row[0])
        await db.execute("UPDATE redials SET channel_id = ? WHERE id = ?", (channel_id, redial_id))
        await db.execute(
            "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
            (redial_id, now, RedialState.WAITING.value, None, "waiting for the callback window"),
        )
        return redial_id

    async def save_redial(self, redial: Redial, now: float, ended_attempt: Redial | None = None) -> None:
        """Write the redial's state (before the daemon acts on it) and log the transition.

        ``ended_attempt``, the attempt this state follows, is logged in the same commit:
        the two are one step, and a crash must not keep the first without the second.
        """
        if ended_attempt is not None:
            await self._db.execute(
                "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
                (
                    redial.id,
                    now,
                    ended_attempt.state.value,
                    ended_attempt.outcome.value if ended_attempt.outcome else None,
                    ended_attempt.detail,
                ),
            )
        await self._db.execute(
            """UPDATE redials SET state=?, due_at=?, originated_at=?, outcome=?, detail=?, updated_at=?,
                   channel_id=?, attempt=?, dial_number=?, ring_interface=?, agent_deadline=?, paused_interface=?,
                   passed_over=?, rings=?
               WHERE id=?""",
            (
                redial.state.value,
                redial.due_at,
                redial.originated_at,
                redial.outcome.value if redial.outcome else None,
                redial.detail,
                now,
                redial.channel_id,
                redial.attempt,
                redial.dial_number,
                redial.ring_interface,
                redial.agent_deadline,
                redial.paused_interface,
                " ".join(redial.passed_over),
                redial.rings,
                redial.id,
            ),
        )
        await self._db.execute(
            "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?,?,?,?,?)",
            (redial.id, now, redial.state.value, redial.outcome.value if redial.outcome else None, redial.detail),
        )
        await self._db.commit()

    async def redials_since(self, number_e164: str, since: float) -> int:
        """How many redials to this number were created at or after ``since`` (the daily cap)."""
        if not number_e164:
            return 0
        async with self._db.execute(
            """SELECT COUNT(*) FROM redials r JOIN calls c ON c.id = r.call_id
               WHERE c.number_e164 = ? AND r.created_at >= ?""",
            (number_e164, since),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def last_drop(
        self, number_e164: str, raw_number: str, since: float
    ) -> tuple[str, str, str, float, str] | None:
        """The most recent abnormal end from this number since ``since``: (linkedid, interface, member,
        ended_at, queue)."""
        async with self._db.execute(
            """SELECT linkedid, agent_interface, agent_member, ended_at, queue FROM calls
               WHERE classification = 'abnormal' AND ended_at >= ? AND agent_interface IS NOT NULL
                 AND (customer_number = ? OR (number_e164 != '' AND number_e164 = ?))
               ORDER BY ended_at DESC LIMIT 1""",
            (since, raw_number, number_e164),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return str(row[0]), str(row[1]), str(row[2] or ""), float(row[3]), str(row[4] or "")

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
        except calls whose redial is still open. The number of calls deleted."""
        old = """SELECT c.id FROM calls c LEFT JOIN redials r ON r.call_id = c.id
                 WHERE c.ended_at < ? AND (r.id IS NULL OR r.state = 'done')"""
        db = self._db
        await db.execute(
            f"DELETE FROM redial_log WHERE redial_id IN (SELECT id FROM redials WHERE call_id IN ({old}))", (before,)
        )
        await db.execute(f"DELETE FROM redials WHERE call_id IN ({old})", (before,))
        cursor = await db.execute(f"DELETE FROM calls WHERE id IN ({old})", (before,))
        await db.commit()
        return cursor.rowcount

    async def cancel_redial(self, redial_id: int, by: str, now: float) -> str:
        """Cancel a pending redial while the daemon is not running; the answer in words."""
        redial = await self.redial(redial_id)
        if redial is None:
            return f"no redial {redial_id}"
        if redial.state not in (RedialState.WAITING, RedialState.WAITING_AGENT):
            return f"redial {redial_id} is {redial.state.value}: only a pending redial can be cancelled"
        await self.save_redial(redial.finished(Outcome.CANCELLED, f"cancelled by {by}"), now)
        return f"redial {redial_id} cancelled"

    async def clear_paused(self, redial_id: int, now: float) -> None:
        """The agent a finished redial reserved has been released."""
        await self._db.execute(
            "UPDATE redials SET paused_interface = NULL, updated_at = ? WHERE id = ?", (now, redial_id)
        )
        await self._db.commit()

    async def redial(self, redial_id: int) -> Redial | None:
        async with self._db.execute(_REDIAL_SELECT + " WHERE r.id = ?", (redial_id,)) as cursor:
            row = await cursor.fetchone()
        return _redial(row) if row else None

    async def open_redials(self) -> list[Redial]:
        """Every redial not yet done, oldest first: what a restarted daemon must carry on."""
        async with self._db.execute(_REDIAL_SELECT + " WHERE r.state != 'done' ORDER BY r.id") as cursor:
            rows = await cursor.fetchall()
        return [_redial(row) for row in rows]

    async def history(
        self,
        limit: int = 50,
        *,
        number: str | None = None,
        agent: str | None = None,
        queue: str | None = None,
        outcome: str | None = None,
        since: float | None = None,
        until: float | None = None,
        call_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded calls with their decision and redial outcome, newest first, filtered."""
        where: list[str] = ["1=1"]
        args: list[object] = []
        if number:
            where.append("(c.customer_number = ? OR c.number_e164 = ?)")
            args += [number, number]
        if agent:
            where.append("(c.agent_interface = ? OR c.agent_member = ?)")
            args += [agent, agent]
        if queue:
            where.append("c.queue = ?")
            args.append(queue)
        if outcome:
            # A skip reason, "waiting" for open redials, or a redial outcome.
            where.append("(r.outcome = ? OR (r.id IS NULL AND c.reason = ?) OR (r.state != 'done' AND ? = r.state))")
            args += [outcome, outcome, outcome]
        if since is not None:
            where.append("c.ended_at >= ?")
            args.append(since)
        if until is not None:
            where.append("c.ended_at < ?")
            args.append(until)
        if call_id is not None:
            where.append("c.id = ?")
            args.append(call_id)
        async with self._db.execute(
            f"""SELECT c.id, c.linkedid, c.ended_at, c.customer_number, c.queue, c.agent_member,
                      c.agent_interface, c.trunk, c.ended_by, c.cause, c.classification, c.verdict,
                      c.reason, c.detail, r.id, r.state, r.outcome, r.detail
               FROM calls c LEFT JOIN redials r ON r.call_id = c.id
               WHERE {" AND ".join(where)}
               ORDER BY c.ended_at DESC, c.id DESC LIMIT ?""",
            (*args, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        keys = [
            "call_id",
            "linkedid",
            "ended_at",
            "customer_number",
            "queue",
            "agent_member",
            "agent_interface",
            "trunk",
            "ended_by",
            "cause",
            "classification",
            "verdict",
            "reason",
            "detail",
            "redial_id",
            "redial_state",
            "outcome",
            "outcome_detail",
        ]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def funnel_rows(self, since: float, until: float) -> list[dict[str, Any]]:
        """One row per call ended in [since, until) for :func:`redial.tools.stats.funnel`."""
        async with self._db.execute(
            """SELECT c.queue, c.agent_member, c.agent_interface, c.trunk, c.ended_at, c.answered_at,
                      c.classification, c.verdict, c.reason, r.outcome,
                      EXISTS (SELECT 1 FROM redial_log l WHERE l.redial_id = r.id AND l.state = 'originating')
               FROM calls c LEFT JOIN redials r ON r.call_id = c.id
               WHERE c.ended_at >= ? AND c.ended_at < ?""",
            (since, until),
        ) as cursor:
            rows = await cursor.fetchall()
        keys = [
            "queue",
            "agent_member",
            "agent_interface",
            "trunk",
            "ended_at",
            "answered_at",
            "classification",
            "verdict",
            "reason",
            "outcome",
            "attempted",
        ]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def call_details(self, call_id: int) -> dict[str, Any] | None:
        """Everything recorded about one call."""
        self._db.row_factory = aiosqlite.Row
        try:
            async with self._db.execute("SELECT * FROM calls WHERE id = ?", (call_id,)) as cursor:
                row = await cursor.fetchone()
        finally:
            self._db.row_factory = None
        return dict(row) if row else None

    async def redial_log(self, redial_id: int) -> list[dict[str, Any]]:
        async with self._db.execute(
            "SELECT at, state, outcome, detail FROM redial_log WHERE redial_id = ? ORDER BY id", (redial_id,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [dict(zip(("at", "state", "outcome", "detail"), row, strict=True)) for row in rows]


__all__ = ["SCHEMA_VERSION", "Store"]
