"""The ``calls`` table: every ended queue call, written one at a time or in groups, and the
returning-caller lookup, which an in-memory index answers without SQLite for most callers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from redial.core.tracker import EndedCall
from redial.policy.classify import Classification, EndKind
from redial.policy.decide import Decision

# What record_calls takes for one call: the call, its classification and decision, when it
# was decided, and its customer key.
CallRecord = tuple[EndedCall, Classification, Decision, float, str]

_INSERT = """INSERT OR IGNORE INTO calls (linkedid, customer_uniqueid, customer_channel, customer_number,
       dialled, queue, trunk, agent_interface, agent_member, joined_at, answered_at, ended_at,
       ended_by, cause, soft_cause, transferred, agent_complete_reason, talk_time,
       classification, verdict, reason, detail, recorded_at, number_e164)
   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""


def _row(record: CallRecord) -> tuple[object, ...]:
    call, classification, decision, now, number_e164 = record
    return (
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
    )


class RecentDrops:
    """Which numbers may have a drop the returning-caller lookup would find: a superset, in memory.

    ``last_drop`` asks SQLite only for a number listed here, so the lookup every inbound call
    makes costs a dict lookup instead of a query. It is a superset of the store's rows (a
    number is added before its row is written; rows deleted by ``redial forget`` or the purge
    stay listed until they are older than the window), so "not listed" is always "no row".
    """

    def __init__(self) -> None:
        # customer number or key -> the latest end of a drop of it
        self._latest: dict[str, float] = {}
        # Complete for drops that ended at or after this time (nothing before the first seed).
        self.complete_since: float | None = None
        # Size after the last pruning: the next one is due when the index has doubled.
        self._pruned_size = 0

    def add(self, raw_number: str, number_e164: str, ended_at: float) -> None:
        for number in (raw_number, number_e164):
            if number and ended_at > self._latest.get(number, float("-inf")):
                self._latest[number] = ended_at

    def seed(self, rows: Sequence[tuple[str, str, float]], since: float) -> None:
        """The store's drops since ``since``; merged, so drops added meanwhile stay listed."""
        for raw_number, number_e164, ended_at in rows:
            self.add(raw_number, number_e164, ended_at)
        self.complete_since = since
        self.prune(since)

    def prune(self, since: float) -> None:
        """Forget drops before ``since``, which no later lookup can want (its ``since`` is later)."""
        self._latest = {n: t for n, t in self._latest.items() if t >= since}
        self._pruned_size = len(self._latest)

    def prune_when_grown(self, since: float) -> None:
        """Prune once the index has doubled since the last time: a steady cost per drop, a bounded size."""
        if len(self._latest) > 2 * self._pruned_size + 64:
            self.prune(since)

    def covers(self, since: float) -> bool:
        return self.complete_since is not None and since >= self.complete_since

    def may_have(self, raw_number: str, number_e164: str, since: float) -> bool:
        latest = self._latest
        return latest.get(raw_number, float("-inf")) >= since or (
            bool(number_e164) and latest.get(number_e164, float("-inf")) >= since
        )

    def __len__(self) -> int:
        return len(self._latest)


class CallWrites:
    """Mixed into :class:`~redial.store.sqlite.Store` (which sets ``_db`` and ``recent_drops``)."""

    _db: aiosqlite.Connection
    recent_drops: RecentDrops

    def _listed(self, record: CallRecord) -> None:
        call, classification = record[0], record[1]
        if classification.kind is EndKind.ABNORMAL and call.agent_interface is not None:
            self.recent_drops.add(call.customer_number, record[4], call.ended_at)

    async def _insert_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str
    ) -> int | None:
        record = (call, classification, decision, now, number_e164)
        self._listed(record)
        cursor = await self._db.execute(_INSERT, _row(record))
        return cursor.lastrowid if cursor.rowcount == 1 else None

    async def record_call(
        self, call: EndedCall, classification: Classification, decision: Decision, now: float, number_e164: str = ""
    ) -> int | None:
        """Insert the ended call; its row id, or ``None`` when this Linkedid was recorded before."""
        call_id = await self._insert_call(call, classification, decision, now, number_e164)
        await self._db.commit()
        return call_id

    async def record_calls(self, records: Sequence[CallRecord]) -> list[int | None]:
        """Insert calls in one commit: each one's row id, or ``None`` when its Linkedid was recorded
        before (or earlier in ``records``), as :meth:`record_call` one by one would answer.

        Four round trips to SQLite's thread for the whole group instead of two a call. Only the
        daemon inserts calls (the store lock), so a Linkedid absent before the insert is ours after.
        """
        if not records:
            return []
        db = self._db
        linkedids = [record[0].linkedid for record in records]
        marks = ",".join("?" * len(linkedids))
        try:
            rows = await db.execute_fetchall(f"SELECT linkedid FROM calls WHERE linkedid IN ({marks})", linkedids)
            taken = {str(row[0]) for row in rows}
            fresh: list[CallRecord] = []
            for record in records:
                if record[0].linkedid not in taken:
                    taken.add(record[0].linkedid)
                    fresh.append(record)
                    self._listed(record)
            if not fresh:
                return [None] * len(records)
            await db.executemany(_INSERT, [_row(record) for record in fresh])
            new = [record[0].linkedid for record in fresh]
            rows = await db.execute_fetchall(
                f"SELECT id, linkedid FROM calls WHERE linkedid IN ({','.join('?' * len(new))})", new
            )
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        ids = {str(row[1]): int(row[0]) for row in rows}
        seen: set[str] = set()
        answer: list[int | None] = []
        for linkedid in linkedids:
            answer.append(ids.get(linkedid) if linkedid not in seen else None)
            seen.add(linkedid)
        return answer

    async def last_drop(
        self, number_e164: str, raw_number: str, since: float
    ) -> tuple[str, str, str, float, str] | None:
        """The most recent abnormal end from this number since ``since``: (linkedid, interface, member,
        ended_at, queue)."""
        recent = self.recent_drops
        if not recent.covers(since):
            rows: Any = await self._db.execute_fetchall(
                """SELECT customer_number, number_e164, MAX(ended_at) FROM calls
                   WHERE classification = 'abnormal' AND ended_at >= ? AND agent_interface IS NOT NULL
                   GROUP BY customer_number, number_e164""",
                (since,),
            )
            recent.seed([(str(r[0]), str(r[1] or ""), float(r[2])) for r in rows], since)
        recent.prune_when_grown(since)
        if not recent.may_have(raw_number, number_e164, since):
            return None
        rows = await self._db.execute_fetchall(
            """SELECT linkedid, agent_interface, agent_member, ended_at, queue FROM calls
               WHERE classification = 'abnormal' AND ended_at >= ? AND agent_interface IS NOT NULL
                 AND (customer_number = ? OR (number_e164 != '' AND number_e164 = ?))
               ORDER BY ended_at DESC LIMIT 1""",
            (since, raw_number, number_e164),
        )
        if not rows:
            return None
        row = next(iter(rows))
        return str(row[0]), str(row[1]), str(row[2] or ""), float(row[3]), str(row[4] or "")
