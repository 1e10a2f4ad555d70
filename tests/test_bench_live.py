"""The live load benchmark's own arithmetic (bench.live_plan): its plan and its judge, fed synthetic AMI events."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from pathlib import Path

import pytest

from bench.live_plan import LoadPlan, PbxRecord, check, linkedid_of, plan_load
from bench.machine import ProcSample, Sampler, SoakSeries, ThreadsSample, file_bytes, sqlite_files


def customer_call(
    record: PbxRecord, linkedid: str, number: str, *, agent: str = "PJSIP/agent7", cause: str | None = "16"
) -> None:
    """The AMI events of one inbound queue call: customer channel, agent answers, hang-up."""
    record.feed(
        {
            "Event": "Newchannel",
            "Channel": f"PJSIP/trunk-{linkedid[-4:]}",
            "Uniqueid": linkedid,
            "Linkedid": linkedid,
            "CallerIDNum": number,
            "Context": "from-trunk",
        }
    )
    record.feed({"Event": "Newchannel", "Channel": f"{agent}-0000", "Uniqueid": linkedid + "1", "Linkedid": linkedid})
    if agent:
        record.feed(
            {
                "Event": "AgentConnect",
                "Channel": f"PJSIP/trunk-{linkedid[-4:]}",
                "Uniqueid": linkedid,
                "Linkedid": linkedid,
                "Interface": agent,
                "MemberName": agent[6:],
            }
        )
    if cause is not None:
        record.feed({"Event": "Hangup", "Uniqueid": linkedid, "Linkedid": linkedid, "Cause": cause})
        record.feed({"Event": "Hangup", "Uniqueid": linkedid + "1", "Linkedid": linkedid, "Cause": cause})


def redial(record: PbxRecord, redial_id: int, linkedid: str, *, agent: str = "PJSIP/agent7", attempt: int = 1) -> str:
    """A redial's agent leg and customer leg, bridged."""
    channel_id = f"redial-{redial_id}-{attempt}-{linkedid}"
    customer_leg = f"200.{redial_id}{attempt}"  # Asterisk's own Uniqueid, the ChannelId as Linkedid
    record.feed({"Event": "Newchannel", "Channel": f"{agent}-0001", "Uniqueid": channel_id, "Linkedid": channel_id})
    record.feed(
        {"Event": "Newchannel", "Channel": "PJSIP/trunk-0002", "Uniqueid": customer_leg, "Linkedid": channel_id}
    )
    record.feed({"Event": "BridgeEnter", "Uniqueid": customer_leg, "Linkedid": channel_id})
    return channel_id


def two_call_plan() -> LoadPlan:
    return plan_load(cps=1, duration=2, drop_ratio=0.5)


class TestPlan:
    """The load plan places exactly the calls and drops asked for, each from its own number."""

    @pytest.mark.parametrize(
        ("cps", "duration", "ratio", "calls", "drops"),
        [(10, 120, 0.2, 1200, 240), (2, 10, 0.2, 20, 4), (3, 7, 0.33, 21, 7), (1, 5, 0.0, 5, 0), (1, 5, 1.0, 5, 5)],
    )
    def test_counts(self, cps: float, duration: float, ratio: float, calls: int, drops: int) -> None:
        plan = plan_load(cps, duration, ratio)
        assert len(plan.calls) == calls
        assert len(plan.drops) == drops
        assert len(plan.normals) == calls - drops
        assert len({c.number for c in plan.calls}) == calls

    def test_drops_are_spread_evenly(self) -> None:
        plan = plan_load(10, 120, 0.2)
        for start in range(0, 1200, 100):
            window = plan.calls[start : start + 100]
            assert sum(1 for c in window if c.kind == "drop") == 20

    def test_rejects_nonsense(self) -> None:
        with pytest.raises(ValueError):
            plan_load(0, 10, 0.2)
        with pytest.raises(ValueError):
            plan_load(1, 10, 1.5)


class TestJudge:
    """The judge counts from PBX events: one redial per drop passes; anything else is flagged."""

    def test_every_drop_redialled_once(self) -> None:
        plan = two_call_plan()
        drop, normal = plan.drops[0], plan.normals[0]
        record = PbxRecord()
        customer_call(record, "100.1", drop.number, cause="44")
        customer_call(record, "100.2", normal.number, cause="16")
        redial(record, 1, "100.1")
        verdict = check(plan, record)
        assert verdict.daemon_ok and verdict.harness_ok
        assert (verdict.dropped, verdict.redialled_once, verdict.same_agent, verdict.connected) == (1, 1, 1, 1)
        assert record.active == {"redial-1-1-100.1", "200.11"}

    def test_double_redial_is_flagged(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        customer_call(record, "100.1", plan.drops[0].number, cause="44")
        customer_call(record, "100.2", plan.normals[0].number)
        redial(record, 1, "100.1")
        redial(record, 2, "100.1")
        verdict = check(plan, record)
        assert not verdict.daemon_ok
        assert len(verdict.double) == 1 and verdict.redialled_once == 0

    def test_second_attempt_counts_as_a_second_redial(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        customer_call(record, "100.1", plan.drops[0].number, cause="44")
        customer_call(record, "100.2", plan.normals[0].number)
        redial(record, 1, "100.1")
        redial(record, 1, "100.1", attempt=2)
        assert len(check(plan, record).double) == 1

    def test_redialled_normal_call_is_flagged(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        customer_call(record, "100.1", plan.drops[0].number, cause="44")
        customer_call(record, "100.2", plan.normals[0].number, cause="16")
        redial(record, 1, "100.1")
        redial(record, 2, "100.2")
        verdict = check(plan, record)
        assert not verdict.daemon_ok
        assert [v.split()[0] for v in verdict.normal_redialled] == [plan.normals[0].number]

    def test_missing_redial_is_flagged(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        customer_call(record, "100.1", plan.drops[0].number, cause="44")
        customer_call(record, "100.2", plan.normals[0].number)
        verdict = check(plan, record)
        assert not verdict.daemon_ok and len(verdict.missing) == 1

    def test_redial_of_another_agent_is_not_same_agent(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        customer_call(record, "100.1", plan.drops[0].number, cause="44", agent="PJSIP/agent1")
        customer_call(record, "100.2", plan.normals[0].number)
        redial(record, 1, "100.1", agent="PJSIP/agent12")
        verdict = check(plan, record)
        assert verdict.daemon_ok and verdict.same_agent == 0

    def test_harness_deviations_are_kept_apart_from_the_daemon(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        # The planned drop ended normally, the planned normal call was dropped (its RTP failed),
        # and got its redial: the daemon did right, the harness did not do what it planned.
        customer_call(record, "100.1", plan.drops[0].number, cause="16")
        customer_call(record, "100.2", plan.normals[0].number, cause="44")
        redial(record, 1, "100.2")
        verdict = check(plan, record)
        assert verdict.daemon_ok and not verdict.harness_ok
        assert len(verdict.deviations) == 2

    def test_unplaced_unanswered_and_unfinished_calls(self) -> None:
        plan = plan_load(1, 3, 0.0)
        record = PbxRecord()
        customer_call(record, "100.1", plan.calls[0].number, agent="", cause="44")
        customer_call(record, "100.2", plan.calls[1].number, cause=None)
        verdict = check(plan, record)
        assert verdict.daemon_ok
        assert (len(verdict.unanswered), len(verdict.unfinished), len(verdict.not_placed)) == (1, 1, 1)

    def test_orphan_redial_is_flagged(self) -> None:
        plan = two_call_plan()
        record = PbxRecord()
        redial(record, 9, "999.9")
        assert check(plan, record).orphan_redials == ["redial-9-1-999.9"]

    def test_linkedid_of_channel_id(self) -> None:
        assert linkedid_of("redial-12-2-1763829000.345") == "1763829000.345"
        assert linkedid_of("redial-x-2-1763829000.345") == ""
        assert linkedid_of("PJSIP/agent1-00000001") == ""


class TestProcSample:
    """CPU and memory are read from /proc for a live process and None for a gone one."""

    def test_reads_own_process(self) -> None:
        sample = ProcSample.read(os.getpid())
        assert sample is not None and sample.cpu > 0 and sample.rss_mb > 0
        assert sample.peak_rss_mb >= sample.rss_mb

    def test_gone_process(self) -> None:
        assert ProcSample.read(2**22 + 12345) is None


class TestThreadsSample:
    """Every thread's voluntary context switches and the process's CPU are read from /proc."""

    def test_reads_every_thread(self) -> None:
        """The main thread and a started thread both appear, keyed by thread id."""
        started, release = threading.Event(), threading.Event()
        tid: list[int] = []

        def worker() -> None:
            tid.append(threading.get_native_id())
            started.set()
            release.wait()

        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        try:
            sample = ThreadsSample.read(os.getpid())
        finally:
            release.set()
            thread.join()
        assert sample is not None and sample.cpu_ns > 0
        assert {os.getpid(), tid[0]} <= sample.voluntary.keys()

    def test_a_thread_woken_twenty_times_counts_its_wakeups(self) -> None:
        """A thread that waits for each of 20 requests in turn blocks (and is woken) about 20 times."""
        requests: queue.Queue[int | None] = queue.Queue()
        replies: queue.Queue[int] = queue.Queue()

        def worker() -> None:
            while (item := requests.get()) is not None:
                replies.put(item)

        thread = threading.Thread(target=worker)
        thread.start()
        requests.put(0)
        replies.get()  # the worker is up, and waits for the next request
        tid = thread.native_id
        assert tid is not None
        before = ThreadsSample.read(os.getpid())
        for i in range(20):
            requests.put(i)
            replies.get()  # the next request goes only after this reply: the worker has to wait for it
        after = ThreadsSample.read(os.getpid())
        requests.put(None)
        thread.join()
        assert before is not None and after is not None
        assert after.voluntary[tid] - before.voluntary[tid] >= 10

    def test_gone_process(self) -> None:
        """A process that does not exist gives None."""
        assert ThreadsSample.read(2**22 + 12345) is None


class TestStoreSize:
    """The store's size is its file, its -wal and its -shm."""

    def test_sqlite_files(self) -> None:
        """The -wal and -shm sit beside the file."""
        names = [p.name for p in sqlite_files(Path("/x/redial.sqlite3"))]
        assert names == ["redial.sqlite3", "redial.sqlite3-wal", "redial.sqlite3-shm"]

    def test_counts_the_wal(self, tmp_path: Path) -> None:
        """A WAL-mode database's size includes its -wal and -shm; a missing file counts nothing."""
        path = tmp_path / "s.sqlite3"
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("CREATE TABLE t (x TEXT)")
            db.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 50)
            db.commit()
            files = sqlite_files(path)
            assert all(f.exists() for f in files)
            assert file_bytes(files) == sum(f.stat().st_size for f in files) > path.stat().st_size
        finally:
            db.close()
        assert file_bytes([tmp_path / "none"]) == 0


class TestSoakSeries:
    """The soak's points: RSS from the Sampler, the store's bytes and the calls placed, at their own pace."""

    def test_points(self, tmp_path: Path) -> None:
        """A point at the start, none before the next is due, one more when forced."""
        store = tmp_path / "s.sqlite3"
        store.write_bytes(b"x" * 4096)
        sampler = Sampler({"me": os.getpid()})
        calls = [7]
        series = SoakSeries(sampler, "me", sqlite_files(store), 3600.0, lambda: calls[0])
        series.start()
        series.point()  # the next is an hour away
        calls[0] = 9
        series.point(force=True)
        assert [(p["store_bytes"], p["calls_placed"]) for p in series.points] == [(4096, 7), (4096, 9)]
        assert all(p["rss_mb"] > 0 for p in series.points)
        assert len(sampler.samples) == 2  # each point is a fresh sample, kept by the Sampler too

    def test_gone_process_gives_no_point(self, tmp_path: Path) -> None:
        """No RSS to read (the process ended): no point."""
        series = SoakSeries(Sampler({"gone": 2**22 + 12345}), "gone", [], 1.0, lambda: 0)
        series.start()
        assert series.points == []
