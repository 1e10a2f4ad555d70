"""Tests for redial.store.erase: one customer's number erased from the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from redial.config import PolicySettings
from redial.core.commands import NewJob, SaveJob
from redial.core.jobs import JobKind, Outcome, Trigger, move
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict
from redial.store import Store
from tests.builders import CALL

NATIONAL = "2025550143"
E164 = "+12025550143"
OTHER = "2025550199"


async def _call(store: Store, linkedid: str, number: str, e164: str, job: bool) -> int | None:
    """A recorded call from ``number``; with ``job`` a drop whose redial connected (two log entries)."""
    call = dataclasses.replace(CALL, linkedid=linkedid, customer_number=number)
    classification = classify(call, PolicySettings())
    decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, classification.reason, due_at=70.0)
    if not job:
        return await store.record_call(call, classification, decision, 50.0, e164)
    recorded = await store.record_drop(
        call, classification, decision, 50.0, e164, NewJob(JobKind.DROP_REDIAL, 70.0, "redial", number)
    )
    assert recorded is not None
    waiting = recorded[1]
    ended = move(waiting, Trigger.CANCEL, "connected", Outcome.CONNECTED)
    await store.save_job(SaveJob.over(waiting, ended), 60.0)
    return waiting.id


async def _fill(store: Store) -> None:
    await _call(store, "1.1", NATIONAL, E164, job=True)
    await _call(store, "2.1", E164, E164, job=False)
    await _call(store, "3.1", "0012025550143", "", job=False)  # recorded before number_e164 existed
    await _call(store, "4.1", OTHER, "+12025550199", job=True)


async def fill(path: Path) -> None:
    """One customer's number in three forms (a drop with its job, +E.164, an old 00 row with no E.164
    stored), and another customer's drop."""
    store = await Store.open(path)
    try:
        await _fill(store)
    finally:
        await store.close()


async def remaining(path: Path) -> tuple[set[str], int, int]:
    """(customer numbers of the calls left, jobs left, job log entries left)."""
    store = await Store.open(path)
    try:
        numbers = {row["customer_number"] for row in await store.history(100)}
        async with store._db.execute("SELECT (SELECT COUNT(*) FROM redials), (SELECT COUNT(*) FROM redial_log)") as c:
            row = await c.fetchone()
    finally:
        await store.close()
    assert row is not None
    return numbers, int(row[0]), int(row[1])


class TestForgetNumber:
    """Calls, jobs and job logs of the number go, in one transaction; nobody else's."""

    async def test_erases_by_key_and_by_raw_form(self, tmp_path: Path) -> None:
        """The E.164 key finds the calls stored with it, the raw form the old row without one."""
        path = tmp_path / "s.sqlite3"
        await fill(path)
        store = await Store.open(path)
        try:
            erased = await store.forget_number({E164}, {"0012025550143"})
        finally:
            await store.close()
        assert (erased.calls, erased.jobs, erased.log_entries, erased.held) == (3, 1, 2, ())
        assert await remaining(path) == ({OTHER}, 1, 2)

    async def test_stored_numbers_lists_each_form_once(self, tmp_path: Path) -> None:
        """Every form a number was stored in, once: what forget compares with the given number."""
        path = tmp_path / "s.sqlite3"
        await fill(path)
        store = await Store.open(path)
        try:
            assert sorted(await store.stored_numbers()) == sorted([NATIONAL, E164, "0012025550143", OTHER])
        finally:
            await store.close()

    async def test_job_holding_an_agent_paused_is_never_erased(self, tmp_path: Path) -> None:
        """The next daemon start releases the agent from that row: nothing is erased, the job is named."""
        path = tmp_path / "s.sqlite3"
        await fill(path)
        store = await Store.open(path)
        try:
            await store._db.execute("UPDATE redials SET paused_interface = 'PJSIP/agent1' WHERE id = 1")
            await store._db.commit()
            erased = await store.forget_number({E164}, {NATIONAL})
        finally:
            await store.close()
        assert erased.held == ((1, "PJSIP/agent1"),) and erased.calls == 0
        assert await remaining(path) == ({NATIONAL, E164, "0012025550143", OTHER}, 2, 4)

    async def test_forgotten_number_is_gone_from_the_file(self, tmp_path: Path) -> None:
        """Overwritten (secure_delete) and checkpointed: no byte of the number is left in the store's files."""
        path = tmp_path / "s.sqlite3"
        store = await Store.open(path)
        try:
            await _fill(store)  # the write-ahead log holds the pages with the number, as after a crash
            assert b"2025550143" in Path(f"{path}-wal").read_bytes()
            await store.forget_number({E164}, {NATIONAL, "0012025550143"})
            # Checked with the connection still open: a crash now must not leave the number in the WAL.
            files = [path, Path(f"{path}-wal")]
            left = [p.name for p in files if p.exists() and b"2025550143" in p.read_bytes()]
        finally:
            await store.close()
        assert left == []
        assert b"2025550143" not in path.read_bytes() and b"2025550199" in path.read_bytes()
