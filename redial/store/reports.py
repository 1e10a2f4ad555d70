"""What the operator tools read from the store: history, the funnels, one call's details."""

from __future__ import annotations

from typing import Any

import aiosqlite


class Reports:
    """Read-only queries, mixed into :class:`~redial.store.sqlite.Store` (which sets ``_db``)."""

    _db: aiosqlite.Connection

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
        """One row per call ended in [since, until) for :func:`redial.tools.stats.funnel`.

        Only queue calls and their drop redials count there: the rows of queue callbacks and
        promises (no queue call of their own) are their own funnels'.
        """
        async with self._db.execute(
            """SELECT c.queue, c.agent_member, c.agent_interface, c.trunk, c.ended_at, c.answered_at,
                      c.classification, c.verdict, c.reason, r.outcome,
                      EXISTS (SELECT 1 FROM redial_log l WHERE l.redial_id = r.id AND l.state = 'originating')
               FROM calls c LEFT JOIN redials r ON r.call_id = c.id AND r.kind = 'drop_redial'
               WHERE c.ended_at >= ? AND c.ended_at < ? AND c.classification NOT IN ('queue_callback', 'promise')""",
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

    async def callback_offer_rows(self, since: float, until: float) -> list[dict[str, Any]]:
        """Offer steps logged in [since, until), counted per queue, event and detail, for
        :func:`redial.tools.stats.callback_funnel`."""
        async with self._db.execute(
            """SELECT queue, event, detail, COUNT(*) FROM callback_offers
               WHERE at >= ? AND at < ? GROUP BY queue, event, detail""",
            (since, until),
        ) as cursor:
            rows = await cursor.fetchall()
        return [dict(zip(("queue", "event", "detail", "count"), row, strict=True)) for row in rows]

    async def callback_job_rows(self, since: float, until: float) -> list[dict[str, Any]]:
        """One row per queue callback requested in [since, until), for
        :func:`redial.tools.stats.callback_funnel`.

        ``connected_at`` is when the job was logged connected: its ``updated_at`` moves again
        when the agent it reserved is released after the call, so it is only the fallback.
        """
        async with self._db.execute(
            """SELECT c.queue, r.state, r.outcome, r.rings, r.created_at,
                      COALESCE((SELECT MIN(l.at) FROM redial_log l
                                WHERE l.redial_id = r.id AND l.outcome = 'connected'), r.updated_at)
               FROM redials r JOIN calls c ON c.id = r.call_id
               WHERE r.kind = 'queue_callback' AND r.created_at >= ? AND r.created_at < ?""",
            (since, until),
        ) as cursor:
            rows = await cursor.fetchall()
        keys = ["queue", "state", "outcome", "rings", "created_at", "connected_at"]
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
