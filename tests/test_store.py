"""Tests for redial.store."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redial.config import PolicySettings
from redial.core.commands import NewJob, RecordPromise, RecordRequest, SaveJob
from redial.core.jobs import CallbackJob, JobKind, JobState, Outcome, Trigger, move
from redial.exceptions import AlreadyRunning, StoreError
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict
from redial.store import SCHEMA_VERSION, Store, StoreLock
from tests.builders import CALL


async def _record(store: Store, linkedid: str = "1.1") -> int | None:
    call = dataclasses.replace(CALL, linkedid=linkedid)
    classification = classify(call, PolicySettings())
    decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, classification.reason, due_at=70.0)
    return await store.record_call(call, classification, decision, 50.0, "+12025550123")


async def _record_drop(store: Store, linkedid: str) -> tuple[int, CallbackJob] | None:
    call = dataclasses.replace(CALL, linkedid=linkedid)
    classification = classify(call, PolicySettings())
    decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, classification.reason, due_at=70.0)
    job = NewJob(JobKind.DROP_REDIAL, 70.0, "redial", "")
    return await store.record_drop(call, classification, decision, 50.0, "+12025550123", job)


async def _drop(store: Store, linkedid: str = "1.1") -> CallbackJob:
    """A recorded drop with its WAITING job, as the engine writes them: one commit."""
    recorded = await _record_drop(store, linkedid)
    assert recorded is not None
    return recorded[1]


# A caller of "support" who joined at 1000 asks at 1100 to be called back on their own number.
REQUEST = RecordRequest(
    queue="support",
    uniqueid="5.1",
    number="2025550123",
    number_key="+12025550123",
    dial_number="2025550123",
    dialled="100",
    channel="PJSIP/trunk-0000002a",
    joined_at=1000.0,
    due_at=1100.0,
    channel_prefix="redial",
    minutes=4,
    keyed=False,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store, closed however the test ends (an open one keeps pytest from exiting)."""
    opened = await Store.open(tmp_path / "s.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


def _ended(job: CallbackJob, outcome: Outcome = Outcome.CONNECTED) -> SaveJob:
    return SaveJob.over(job, move(job, Trigger.CANCEL, outcome.value, outcome))


class TestSchema:
    """Migrations, WAL and the integrity check."""

    async def test_fresh_store_is_migrated_and_wal(self, tmp_path: Path) -> None:
        store = await Store.open(tmp_path / "s.sqlite3")
        assert await store.schema_version() == SCHEMA_VERSION
        await store.close()
        with sqlite3.connect(tmp_path / "s.sqlite3") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    async def test_concurrent_first_opens_both_succeed(self, tmp_path: Path) -> None:
        """The daemon and a CLI command opening a fresh store at once: one migrates, the other waits."""
        for attempt in range(5):
            path = tmp_path / f"s{attempt}.sqlite3"
            stores = await asyncio.gather(*(Store.open(path) for _ in range(3)))
            assert [await s.schema_version() for s in stores] == [SCHEMA_VERSION] * 3
            for store in stores:
                await store.close()
            with sqlite3.connect(path) as db:
                assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION

    async def test_newer_schema_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"
        await (await Store.open(path)).close()
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version VALUES (99)")
        with pytest.raises(StoreError, match="newer"):
            await Store.open(path)

    async def test_garbage_file_refused_clearly(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"
        path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(StoreError, match=r"s\.sqlite3"):
            await Store.open(path)


class TestStoreLock:
    """One daemon per store; the lock goes with the process that held it."""

    def test_second_claim_refused_naming_pid_and_store(self, tmp_path: Path) -> None:
        store = tmp_path / "new" / "s.sqlite3"
        first, second = StoreLock(store), StoreLock(store)
        first.acquire()
        try:
            with pytest.raises(AlreadyRunning, match=rf"\(pid {os.getpid()}\) already runs with the store {store}"):
                second.acquire()
        finally:
            first.release()
        second.acquire()  # free again once released
        second.release()

    def test_lock_dies_with_its_process(self, tmp_path: Path) -> None:
        """A SIGKILLed holder leaves no stale lock: the next daemon starts."""
        store = tmp_path / "s.sqlite3"
        code = (
            f"from redial.store import StoreLock; StoreLock({str(store)!r}).acquire(); "
            "print('held', flush=True); input()"
        )
        holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
            with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"):
                StoreLock(store).acquire()
        finally:
            holder.kill()
            holder.wait(5)
        lock = StoreLock(store)
        lock.acquire()
        lock.release()

    def test_holder_probe_creates_and_keeps_nothing(self, tmp_path: Path) -> None:
        """`redial status` asks who holds the store: no lock file made, and the lock free after asking."""
        store = tmp_path / "new" / "s.sqlite3"
        assert StoreLock(store).holder() is None and not store.parent.exists()
        daemon = StoreLock(store)
        daemon.acquire()
        try:
            assert StoreLock(store).holder() == f"a daemon (pid {os.getpid()}) holds the store {store}"
        finally:
            daemon.release()
        assert StoreLock(store).holder() is None
        again = StoreLock(store)
        again.acquire()  # the probe left the lock free
        again.release()


class TestRecords:
    """Calls and redials."""

    async def test_call_recorded_once(self, tmp_path: Path) -> None:
        store = await Store.open(tmp_path / "s.sqlite3")
        assert await _record(store) == 1
        assert await _record(store) is None
        assert len(await store.history()) == 1
        await store.close()

    async def test_one_job_per_call(self, tmp_path: Path) -> None:
        """A drop recorded again (a replay, a restart) gets no second job, and its first is kept."""
        store = await Store.open(tmp_path / "s.sqlite3")
        job = await _drop(store)
        assert job.channel_id == f"redial-{job.id}-1-1.1" and job.state is JobState.WAITING
        assert job.kind is JobKind.DROP_REDIAL and job.revision == 0
        assert await _record_drop(store, "1.1") is None
        assert [j.id for j in await store.open_jobs()] == [job.id]
        await store.close()

    async def test_open_redials_survive_reopen(self, tmp_path: Path) -> None:
        store = await Store.open(tmp_path / "s.sqlite3")
        first = await _drop(store, "1.1")
        second = await _drop(store, "2.1")
        await store.save_job(_ended(second), 90.0)
        await store.close()
        store = await Store.open(tmp_path / "s.sqlite3")
        assert [r.id for r in await store.open_jobs()] == [first.id]
        log = await store.redial_log(second.id)
        assert [entry["state"] for entry in log] == ["waiting", "done"]
        assert log[-1]["outcome"] == "connected"
        await store.close()


class TestQueueCallbackRequests:
    """A callback request and its job in one commit, or merged into the pending one; the offers log."""

    async def test_request_creates_call_and_job(self, store: Store) -> None:
        """The job is a WAITING queue callback with the caller's place; its call carries the number key."""
        job, merged = await store.record_request(REQUEST, 1100.0)
        assert merged is False
        assert (job.kind, job.state, job.joined_at, job.due_at) == (
            JobKind.QUEUE_CALLBACK,
            JobState.WAITING,
            1000.0,
            1100.0,
        )
        assert (job.queue, job.customer_number, job.dial_number, job.trunk) == (
            "support",
            "2025550123",
            "2025550123",
            "trunk",
        )
        assert (job.linkedid, job.original_uniqueid, job.channel_id) == ("qcb-5.1", "5.1", f"redial-{job.id}-1-qcb-5.1")
        assert job.dropped_at == 1100.0 and job.revision == 0
        async with store._db.execute(
            "SELECT number_e164, queue, joined_at FROM calls WHERE id = ?", (job.call_id,)
        ) as cursor:
            assert await cursor.fetchone() == ("+12025550123", "support", 1000.0)
        assert await store.open_jobs() == [job]

    @pytest.mark.parametrize(("first", "second"), [(1000.0, 900.0), (900.0, 1000.0)])
    async def test_same_number_and_queue_merges_keeping_the_older_place(
        self, store: Store, first: float, second: float
    ) -> None:
        """A second request of the same key in the same queue gives the pending job back, at the older place."""
        job, _ = await store.record_request(dataclasses.replace(REQUEST, joined_at=first), 1100.0)
        again = dataclasses.replace(REQUEST, uniqueid="6.1", number="+12025550123", joined_at=second)
        merged, was_merged = await store.record_request(again, 1200.0)
        assert was_merged is True and merged.id == job.id and merged.joined_at == 900.0
        assert [(j.id, j.joined_at) for j in await store.open_jobs()] == [(job.id, 900.0)]

    async def test_another_queue_or_a_done_callback_makes_a_new_job(self, store: Store) -> None:
        """The same number in another queue, or after the first callback ended, is a new callback."""
        first, _ = await store.record_request(REQUEST, 1100.0)
        sales, merged = await store.record_request(dataclasses.replace(REQUEST, uniqueid="6.1", queue="sales"), 1100.0)
        assert merged is False and sales.id != first.id and sales.queue == "sales"
        await store.save_job(_ended(first), 1150.0)
        later, merged = await store.record_request(dataclasses.replace(REQUEST, uniqueid="7.1"), 1200.0)
        assert merged is False and later.id not in (first.id, sales.id)

    async def test_a_drop_redial_of_the_same_number_is_not_merged_into(self, store: Store) -> None:
        """A pending drop redial of the same customer in the same queue is no callback to merge with."""
        drop = await _drop(store)
        job, merged = await store.record_request(REQUEST, 1100.0)
        assert merged is False and job.id != drop.id and job.kind is JobKind.QUEUE_CALLBACK

    async def test_recent_redials_leave_queue_callbacks_out(self, store: Store) -> None:
        """The daily cap counts drop redials only: a callback the customer asked for is none."""
        await store.record_request(REQUEST, 1100.0)
        assert await store.recent_redials(0.0) == []
        await _drop(store)
        assert [key for key, _ in await store.recent_redials(0.0)] == ["+12025550123"]

    async def test_log_offer_writes_a_row(self, store: Store) -> None:
        """Each step of an offer is one row of the offers log, with no number in it."""
        await store.log_offer("support", "not_offered", "queue_full", None, 1100.0)
        await store.log_offer("support", "accepted", "", 4, 1101.0)
        async with store._db.execute(
            "SELECT queue, at, event, detail, redial_id FROM callback_offers ORDER BY id"
        ) as cursor:
            rows = await cursor.fetchall()
        assert rows == [("support", 1100.0, "not_offered", "queue_full", None), ("support", 1101.0, "accepted", "", 4)]


# agent1's promise to call the customer back at 2000, made from the CLI at 1000.
PROMISE = RecordPromise(
    key="1000.000000-1",
    number="2025550123",
    number_key="+12025550123",
    dial_number="2025550123",
    dialled="100",
    queue="support",
    trunk="trunk",
    owner_interface="PJSIP/agent1",
    owner_member="Alice",
    due_at=2000.0,
    note="wants a refund",
    made_by="root",
    source="cli",
    original_uniqueid="1.1",
    channel_prefix="redial",
)


class TestPromises:
    """A promise and its job in one commit; a drop's job ended with the promise that takes it over; the latest call."""

    async def test_record_promise_round_trip(self, store: Store) -> None:
        """The job is a WAITING promise of its owner, with its note, the time promised and its maker."""
        job = await store.record_promise(PROMISE, 1000.0)
        assert (job.kind, job.state, job.due_at, job.promised_at) == (
            JobKind.PROMISED_CALLBACK,
            JobState.WAITING,
            2000.0,
            2000.0,
        )
        assert (job.note, job.made_by, job.agent_interface, job.agent_member) == (
            "wants a refund",
            "root",
            "PJSIP/agent1",
            "Alice",
        )
        assert (job.linkedid, job.original_uniqueid, job.customer_number, job.trunk) == (
            "prm-1000.000000-1",
            "1.1",
            "2025550123",
            "trunk",
        )
        assert (job.connected_at, job.late) == (None, False)
        assert await store.open_jobs() == [job]

    async def test_same_key_stored_once(self, store: Store) -> None:
        """A second write of the same promise is refused and stores nothing more."""
        job = await store.record_promise(PROMISE, 1000.0)
        with pytest.raises(StoreError, match="stored before"):
            await store.record_promise(dataclasses.replace(PROMISE, note="again"), 1001.0)
        assert await store.open_jobs() == [job]

    async def test_connected_at_and_late_saved(self, store: Store) -> None:
        """A kept promise's talk start and lateness are written with its end."""
        job = await store.record_promise(PROMISE, 1000.0)
        kept = move(job, Trigger.CANCEL, "kept", Outcome.CONNECTED, connected_at=2950.0, late=True)
        await store.save_job(SaveJob.over(job, kept), 3000.0)
        stored = await store.job(job.id)
        assert stored is not None and (stored.connected_at, stored.late, stored.note) == (
            2950.0,
            True,
            "wants a refund",
        )

    async def test_save_job_with_then_promise_is_one_commit(self, store: Store) -> None:
        """The drop's end and the queue's promise are written together, and the promise is returned."""
        drop = await _drop(store)
        ended = move(drop, Trigger.CANCEL, "nobody free", Outcome.CALLBACK_REQUESTED)
        promise = dataclasses.replace(PROMISE, key=f"drop-{drop.id}", owner_interface="", owner_member="")
        stored = await store.save_job(dataclasses.replace(SaveJob.over(drop, ended), then_promise=promise), 1000.0)
        assert stored is not None and stored.kind is JobKind.PROMISED_CALLBACK and stored.agent_interface == ""
        assert await store.open_jobs() == [stored]
        assert (await store.job(drop.id)).outcome is Outcome.CALLBACK_REQUESTED  # type: ignore[union-attr]
        assert await store.save_job(_ended(stored), 1001.0) is None

    async def test_failing_then_promise_leaves_neither(self, store: Store) -> None:
        """The promise's insert fails (its key was stored): the drop's end is not kept either."""
        drop = await _drop(store)
        first = await store.record_promise(PROMISE, 900.0)
        ended = move(drop, Trigger.CANCEL, "nobody free", Outcome.CALLBACK_REQUESTED)
        with pytest.raises(sqlite3.IntegrityError):
            await store.save_job(dataclasses.replace(SaveJob.over(drop, ended), then_promise=PROMISE), 1000.0)
        assert sorted(j.id for j in await store.open_jobs()) == sorted([drop.id, first.id])
        assert (await store.job(drop.id)).state is JobState.WAITING  # type: ignore[union-attr]

    async def test_latest_call_by_number_key_skips_promises(self, store: Store) -> None:
        """The customer's latest real call, never a promise's own row; None for an unknown customer."""
        await _record(store, "1.1")
        await _record(store, "2.1")
        await store.record_promise(PROMISE, 1000.0)
        latest = await store.latest_call("+12025550123")
        assert latest is not None and (latest["linkedid"], latest["agent_interface"]) == ("2.1", "PJSIP/agent1")
        assert await store.latest_call("+12025550199") is None

    async def test_latest_call_by_call_id(self, store: Store) -> None:
        """A call found by its Linkedid, or the latest by its customer's Uniqueid, whatever the number key."""
        await _record(store, "3.1")
        await _record(store, "4.1")
        by_linkedid = await store.latest_call("", "3.1")
        assert by_linkedid is not None and by_linkedid["linkedid"] == "3.1"
        by_uniqueid = await store.latest_call("+19999999999", "1.1")
        assert by_uniqueid is not None and by_uniqueid["linkedid"] == "4.1"
        assert await store.latest_call("+12025550123", "9.9") is None

    async def test_latest_trunk_of_a_queue(self, store: Store) -> None:
        """The trunk of the queue's latest real call; "" for a queue with none (promises do not count)."""
        await store.record_promise(dataclasses.replace(PROMISE, queue="sales", trunk="promised"), 1000.0)
        assert await store.latest_trunk("sales") == ""
        await _record(store)
        assert await store.latest_trunk("support") == "trunk"


class TestRetention:
    """Old history is purged; open redials never are."""

    async def test_purge_old_keeps_open(self, tmp_path: Path) -> None:
        store = await Store.open(tmp_path / "s.sqlite3")
        old_done = await _drop(store, "1.1")
        await store.save_job(_ended(old_done), 60.0)
        old_open = await _drop(store, "2.1")
        await _record(store, "3.1")
        assert await store.purge(before=CALL.ended_at + 1) == 2
        remaining = {row["linkedid"] for row in await store.history()}
        assert remaining == {"2.1"}
        assert [r.id for r in await store.open_jobs()] == [old_open.id]
        assert await store.redial_log(old_done.id) == []
        assert await store.purge(before=CALL.ended_at - 1) == 0
        await store.close()

    async def test_purge_old_callback_offers(self, tmp_path: Path) -> None:
        """The offers log is cut at the same time as the calls, rows at the cut kept."""
        store = await Store.open(tmp_path / "s.sqlite3")
        for at in (10.0, 49.9, 50.0, 90.0):
            await store._db.execute(
                "INSERT INTO callback_offers (queue, at, event, detail) VALUES ('support', ?, 'offered', '')", (at,)
            )
        await store._db.commit()
        assert await store.purge(before=50.0) == 0  # offers are not calls
        async with store._db.execute("SELECT at FROM callback_offers ORDER BY at") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [50.0, 90.0]
        await store.close()


class TestSecureDelete:
    """Deleted rows are overwritten in the file, not left readable in its free space."""

    @pytest.fixture(autouse=True)
    def _sqlite_built_without_secure_delete(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Debian builds SQLite with SECURE_DELETE on by default, python.org's and others without:
        every connection starts with it off here, as there."""
        import aiosqlite

        connect = aiosqlite.connect

        async def without_secure_delete(database: str) -> aiosqlite.Connection:
            db = await connect(database)
            await db.execute("PRAGMA secure_delete = OFF")
            return db

        monkeypatch.setattr(aiosqlite, "connect", without_secure_delete)

    async def test_secure_delete_is_on(self, tmp_path: Path) -> None:
        """Set on every connection the store opens, whatever the SQLite build's default."""
        store = await Store.open(tmp_path / "s.sqlite3")
        async with store._db.execute("PRAGMA secure_delete") as cursor:
            row = await cursor.fetchone()
        await store.close()
        assert row is not None and row[0] == 1

    async def test_purged_number_is_gone_from_the_file(self, tmp_path: Path) -> None:
        """After a purge the customer's number is nowhere in the store's bytes."""
        path = tmp_path / "s.sqlite3"
        store = await Store.open(path)
        call = dataclasses.replace(CALL, customer_number="4915123456789")
        classification = classify(call, PolicySettings())
        decision = Decision(Verdict.SKIP, Reason.NORMAL_END, classification.reason)
        await store.record_call(call, classification, decision, 50.0, "+4915123456789")
        await store.close()  # the last connection's close copies the WAL into the file
        assert b"4915123456789" in path.read_bytes()
        store = await Store.open(path)
        assert await store.purge(before=CALL.ended_at + 1) == 1
        await store.close()
        assert not Path(f"{path}-wal").exists()
        assert b"4915123456789" not in path.read_bytes()


def _old_store(path: Path, version: int) -> None:
    """A store at schema ``version``, as an older redial left it, with one waiting and one ringing redial."""
    import redial.store.schema as store_module

    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for step in range(version):
            db.executescript(store_module.MIGRATIONS[step])
            db.execute("INSERT INTO schema_version VALUES (?)", (step + 1,))
        columns = (
            "linkedid, customer_uniqueid, customer_channel, customer_number, dialled, queue, trunk, agent_interface,"
            " agent_member, ended_at, ended_by, transferred, classification, verdict, reason, detail, recorded_at"
        )
        for n in (1, 2):
            db.execute(
                f"INSERT INTO calls ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f"{n}.1",
                    f"{n}.1",
                    "PJSIP/trunk-1",
                    "2025550143",
                    "100",
                    "support",
                    "trunk",
                    "PJSIP/agent1",
                    "Alice",
                    10.0,
                    "customer",
                    0,
                    "abnormal",
                    "redial",
                    "abnormal_end",
                    "x",
                    11.0,
                ),
            )
        db.execute(
            "INSERT INTO redials (call_id, state, due_at, channel_id, detail, updated_at)"
            " VALUES (1, 'waiting', 30.0, 'redial-1-1-1.1', 'waiting', 11.0)"
        )
        db.execute(
            "INSERT INTO redials (call_id, state, due_at, channel_id, originated_at, detail, updated_at)"
            " VALUES (2, 'originating', 30.0, 'redial-2-1-2.1', 31.0, 'ringing', 31.0)"
        )
        if version >= 3:  # from then on, a redial counts the Originates it sent
            db.execute("UPDATE redials SET rings = 1 WHERE state = 'originating'")


class TestUpgrades:
    """A populated store of every earlier schema version opens, upgraded, with nothing lost."""

    @pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
    async def test_populated_store_upgrades(self, tmp_path: Path, version: int) -> None:
        """Calls and redials survive; the next ChannelId of each redial is new, never one already sent."""
        path = tmp_path / "old.sqlite3"
        _old_store(path, version)
        store = await Store.open(path, check=True)
        try:
            assert await store.schema_version() == SCHEMA_VERSION
            waiting, ringing = sorted(await store.open_jobs(), key=lambda r: r.id)
            assert (waiting.state, waiting.rings, waiting.passed_over) == (JobState.WAITING, 0, ())
            assert (ringing.state, ringing.rings, ringing.channel_id) == (JobState.ORIGINATING, 1, "redial-2-1-2.1")
            assert len(await store.history()) == 2
        finally:
            await store.close()

    async def test_version_5_store_gets_the_promise_columns(self, tmp_path: Path) -> None:
        """Migration 6 on a populated v5 store: old redials read with empty promise facts; a promise can be stored."""
        path = tmp_path / "v5.sqlite3"
        _old_store(path, 5)
        store = await Store.open(path, check=True)
        try:
            jobs = await store.open_jobs()
            assert [(j.note, j.promised_at, j.made_by, j.connected_at, j.late) for j in jobs] == [
                ("", None, "", None, False)
            ] * 2
            promise = await store.record_promise(PROMISE, 1000.0)
            assert (promise.note, promise.promised_at) == ("wants a refund", 2000.0)
        finally:
            await store.close()

    async def test_data_only_migration_runs_once_under_concurrent_opens(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Four processes' worth of opens at once: a data-only step is applied exactly once."""
        import redial.store.schema as store_module

        path = tmp_path / "s.sqlite3"
        first = await Store.open(path)
        await _record(first)
        await first.close()
        extra = (*store_module.MIGRATIONS, "UPDATE calls SET detail = detail || '+';")
        monkeypatch.setattr(store_module, "MIGRATIONS", extra)
        monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(extra))
        stores = await asyncio.gather(*(Store.open(path) for _ in range(4)))
        try:
            rows = await stores[0].history()
            assert rows[0]["detail"].endswith("+") and not rows[0]["detail"].endswith("++")
            assert [await s.schema_version() for s in stores] == [len(extra)] * 4
        finally:
            for store in stores:
                await store.close()
