"""Erasing one customer's number from the store: ``redial forget``.

A customer's number is in the calls they made (``customer_number``, ``number_e164``,
and in its channel name and decision's detail), in their callback jobs (the ``redials``
table; ``dial_number``) and in those jobs' ``redial_log`` rows. All of it goes, in one
transaction; with ``secure_delete`` on (see :mod:`redial.store.sqlite`) the deleted
bytes are overwritten, and a checkpoint leaves no copy in the write-ahead log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True, slots=True)
class Erased:
    """What :meth:`Erasure.forget_number` removed; ``held``: jobs it refused to touch (nothing removed then)."""

    calls: int = 0
    jobs: int = 0
    log_entries: int = 0
    held: tuple[tuple[int, str], ...] = ()


class Erasure:
    """Mixed into :class:`~redial.store.sqlite.Store` (which sets ``_db``)."""

    _db: aiosqlite.Connection

    async def stored_numbers(self) -> list[str]:
        """Every distinct customer number stored (as received, and as a job dials it): what ``forget`` matches."""
        async with self._db.execute(
            "SELECT customer_number FROM calls UNION SELECT dial_number FROM redials WHERE dial_number != ''"
        ) as cursor:
            rows = await cursor.fetchall()
        return [str(row[0]) for row in rows if row[0]]

    async def forget_number(self, keys: Collection[str], raw: Collection[str]) -> Erased:
        """Delete every call whose E.164 form is in ``keys`` or whose number as received (or as its job
        dials it) is in ``raw``, with its job and the job's log, in one transaction.

        A matching job that still holds an agent paused (a daemon died before releasing them) is
        never deleted: the next daemon start releases the agent from that row. Then nothing at
        all is deleted and :attr:`Erased.held` names those jobs and agents.
        """
        keys = sorted({k for k in keys if k})
        raw = sorted({r for r in raw if r})
        if not keys and not raw:
            return Erased()
        key_marks, raw_marks = ",".join("?" * len(keys)), ",".join("?" * len(raw))
        matched = f"""SELECT c.id FROM calls c LEFT JOIN redials r ON r.call_id = c.id
                      WHERE c.number_e164 IN ({key_marks}) OR c.customer_number IN ({raw_marks})
                         OR r.dial_number IN ({raw_marks}) OR r.dial_number IN ({key_marks})"""
        args = (*keys, *raw, *raw, *keys)
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute(matched, args) as cursor:
                ids = sorted({int(row[0]) for row in await cursor.fetchall()})
            marks = ",".join("?" * len(ids))
            jobs = f"SELECT id FROM redials WHERE call_id IN ({marks})"
            async with db.execute(
                f"SELECT id, paused_interface FROM redials WHERE call_id IN ({marks}) AND paused_interface IS NOT NULL"
                " ORDER BY id",
                ids,
            ) as cursor:
                held = tuple((int(row[0]), str(row[1])) for row in await cursor.fetchall())
            if held:
                await db.rollback()
                return Erased(held=held)
            log_entries = (await db.execute(f"DELETE FROM redial_log WHERE redial_id IN ({jobs})", ids)).rowcount
            erased_jobs = (await db.execute(f"DELETE FROM redials WHERE call_id IN ({marks})", ids)).rowcount
            calls = (await db.execute(f"DELETE FROM calls WHERE id IN ({marks})", ids)).rowcount
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        # The write-ahead log still holds the pages as they were: copy the new ones into the
        # file and empty the log (it only succeeds fully with no reader, as under `forget`).
        await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Erased(calls, erased_jobs, log_entries)
