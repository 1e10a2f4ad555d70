"""What ``redial stats`` reads of promised callbacks: one row per promise made in a period."""

from __future__ import annotations

from typing import Any

import aiosqlite

_KEYS = ("queue", "owner_interface", "owner_member", "state", "outcome", "ring_interface", "late", "ring_member")


class PromiseReports:
    """Read-only queries, mixed into :class:`~redial.store.sqlite.Store` (which sets ``_db``)."""

    _db: aiosqlite.Connection

    async def promise_rows(self, since: float, until: float) -> list[dict[str, Any]]:
        """One row per promised callback made in [since, until), for :mod:`redial.tools.promise_stats`.

        The owner is the promise's call's agent (none: the queue's promise); ``ring_interface``
        is the member rung last (for a kept promise: who kept it), and ``ring_member`` that
        interface's member name, as the latest call it answered recorded it ("" if none did).
        """
        async with self._db.execute(
            """SELECT c.queue, c.agent_interface, c.agent_member, r.state, r.outcome, r.ring_interface, r.late
               FROM redials r JOIN calls c ON c.id = r.call_id
               WHERE r.kind = 'promised_callback' AND r.created_at >= ? AND r.created_at < ?
               ORDER BY r.id""",
            (since, until),
        ) as cursor:
            rows = [list(row) for row in await cursor.fetchall()]
        members = await self._member_names({str(row[5]) for row in rows if row[5]})
        return [dict(zip(_KEYS, (*row, members.get(str(row[5] or ""), "")), strict=True)) for row in rows]

    async def _member_names(self, interfaces: set[str]) -> dict[str, str]:
        """Each interface's member name from the latest call it answered (one pass over the calls)."""
        if not interfaces:
            return {}
        marks = ",".join("?" * len(interfaces))
        async with self._db.execute(
            f"""SELECT agent_interface, agent_member FROM calls
                WHERE agent_interface IN ({marks}) AND agent_member IS NOT NULL AND agent_member != ''
                ORDER BY id""",
            tuple(sorted(interfaces)),
        ) as cursor:
            # Later rows overwrite earlier ones: the latest name wins.
            return {str(interface): str(member) async for interface, member in cursor}
