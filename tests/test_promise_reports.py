"""Tests for redial.store.promise_reports: the promise rows ``redial stats`` reads, from a real store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redial.config import PolicySettings
from redial.core.commands import NewJob, RecordPromise, SaveJob
from redial.core.jobs import CallbackJob, JobKind, JobState, Outcome
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict
from redial.store import Store
from tests.builders import CALL

T0 = 1_800_000_000.0


def promise(key: str, member: str = "Alice", interface: str = "PJSIP/1001", queue: str = "support") -> RecordPromise:
    """A promise of ``member`` (none: the queue's) for one customer, due an hour after T0."""
    return RecordPromise(
        key=key,
        number="2025550123",
        number_key="+12025550123",
        dial_number="2025550123",
        dialled="100",
        queue=queue,
        trunk="trunk",
        owner_interface=interface,
        owner_member=member,
        due_at=T0 + 3600,
        note="",
        made_by="alice",
        source="cli",
        original_uniqueid="",
        channel_prefix="redial",
    )


async def ended(store: Store, job: CallbackJob, outcome: Outcome, ring: str = "", late: bool = False) -> None:
    """The promise done with ``outcome``, rung last on ``ring``."""
    moved = job.changed(state=JobState.DONE, outcome=outcome, ring_interface=ring or job.ring_interface, late=late)
    await store.save_job(SaveJob.over(job, moved), T0 + 7200)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "s.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


class TestPromiseRows:
    """One row per promise made in the period, its owner, how it stands, and who kept it."""

    async def test_rows(self, store: Store) -> None:
        """Owner, state, outcome, keeper (by member name from the calls Bob answered) and lateness."""
        # Bob answered a call as "Bob" on PJSIP/1002: that names his interface.
        bob_call = dataclasses.replace(CALL, linkedid="9.1", agent_interface="PJSIP/1002", agent_member="Bob")
        classification = classify(bob_call, PolicySettings())
        decision = Decision(Verdict.SKIP, Reason.NORMAL_END, "normal")
        await store.record_call(bob_call, classification, decision, T0 - 100, "+12025550199")
        kept = await store.record_promise(promise("a"), T0)
        by_bob = await store.record_promise(promise("b"), T0 + 1)
        of_queue = await store.record_promise(promise("c", member="", interface=""), T0 + 2)
        await store.record_promise(promise("d"), T0 + 3)
        await ended(store, kept, Outcome.CONNECTED, "PJSIP/1001")
        await ended(store, by_bob, Outcome.CONNECTED, "PJSIP/1002", late=True)
        await ended(store, of_queue, Outcome.UNREACHED, "PJSIP/1003")
        rows = await store.promise_rows(T0, T0 + 10)
        assert [(r["owner_member"], r["state"], r["outcome"], r["ring_interface"], r["late"]) for r in rows] == [
            ("Alice", "done", "connected", "PJSIP/1001", 0),
            ("Alice", "done", "connected", "PJSIP/1002", 1),
            (None, "done", "unreached", "PJSIP/1003", 0),
            ("Alice", "waiting", None, "", 0),
        ]
        assert [r["ring_member"] for r in rows] == ["Alice", "Bob", "", ""]
        assert rows[2]["owner_interface"] is None and rows[0]["queue"] == "support"

    async def test_period_and_kind(self, store: Store) -> None:
        """Only promises made in [since, until); drop redials are not promises."""
        await store.record_promise(promise("early"), T0 - 1)
        await store.record_promise(promise("in"), T0)
        await store.record_promise(promise("late"), T0 + 10)
        drop = dataclasses.replace(CALL, linkedid="8.1")
        classification = classify(drop, PolicySettings())
        decision = Decision(Verdict.REDIAL, Reason.ABNORMAL_END, classification.reason, due_at=T0 + 20)
        job = NewJob(JobKind.DROP_REDIAL, T0 + 20, "redial", "")
        await store.record_drop(drop, classification, decision, T0 + 5, "+12025550123", job)
        assert len(await store.promise_rows(T0, T0 + 10)) == 1
