"""Tests for redial.store.calls: calls written in groups, and the index in front of the
returning-caller lookup. Both must answer exactly as the one-call-at-a-time path did."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redial.config import PolicySettings
from redial.core.tracker import EndedBy
from redial.policy.classify import classify
from redial.policy.decide import Decision, Reason, Verdict
from redial.store import Store
from redial.store.calls import CallRecord, RecentDrops
from tests.builders import CALL

# Two numbers, each in two forms; the key is the form a lookup also gets.
_FORMS = {"2025550123": "+12025550123", "(202) 555-0123": "+12025550123", "2025550199": "+12025550199"}


def _record(linkedid: str, number: str, abnormal: bool, agent: bool, ended_at: float) -> CallRecord:
    call = dataclasses.replace(
        CALL,
        linkedid=linkedid,
        customer_number=number,
        ended_at=ended_at,
        cause=44 if abnormal else 16,
        soft_cause=1 if abnormal else None,
        ended_by=EndedBy.CUSTOMER if abnormal else EndedBy.AGENT,
        agent_interface="PJSIP/agent1" if agent else None,
    )
    classification = classify(call, PolicySettings())
    decision = Decision(Verdict.SKIP, Reason.NORMAL_END, "")
    return call, classification, decision, ended_at, _FORMS[number]


async def _old_last_drop(store: Store, e164: str, raw: str, since: float) -> tuple[object, ...] | None:
    """The lookup as it was: one query, no index."""
    rows = list(
        await store._db.execute_fetchall(
            """SELECT linkedid, agent_interface, agent_member, ended_at, queue FROM calls
               WHERE classification = 'abnormal' AND ended_at >= ? AND agent_interface IS NOT NULL
                 AND (customer_number = ? OR (number_e164 != '' AND number_e164 = ?))
               ORDER BY ended_at DESC LIMIT 1""",
            (since, raw, e164),
        )
    )
    if not rows:
        return None
    r = rows[0]
    return str(r[0]), str(r[1]), str(r[2] or ""), float(r[3]), str(r[4] or "")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "s.sqlite3")
    try:
        yield opened
    finally:
        await opened.close()


_calls = st.lists(
    st.tuples(
        st.integers(0, 12),  # linkedid: repeats are replays
        st.sampled_from(sorted(_FORMS)),
        st.booleans(),  # abnormal
        st.booleans(),  # answered by an agent
        st.integers(0, 100),  # ended_at
    ),
    max_size=25,
)


class TestRecordCalls:
    """A group of calls is written as one call at a time would write them."""

    @settings(max_examples=40, deadline=None)
    @given(before=_calls, group=_calls)
    def test_same_answers_and_rows_as_one_by_one(
        self,
        tmp_path_factory: object,
        before: list[tuple[int, str, bool, bool, int]],
        group: list[tuple[int, str, bool, bool, int]],
    ) -> None:
        """Row ids for new Linkedids, None for a replay (in the store or earlier in the group), same rows."""

        async def run() -> None:
            one, many = await Store.open(":memory:"), await Store.open(":memory:")
            try:
                for n, number, abnormal, agent, at in before:
                    record = _record(f"{n}.1", number, abnormal, agent, float(at))
                    assert await one.record_call(*record) == await many.record_call(*record)
                records = [
                    _record(f"{n}.1", number, abnormal, agent, float(at)) for n, number, abnormal, agent, at in group
                ]
                answers = [await one.record_call(*record) for record in records]
                assert await many.record_calls(records) == answers
                query = "SELECT * FROM calls ORDER BY id"
                assert list(await one._db.execute_fetchall(query)) == list(await many._db.execute_fetchall(query))
            finally:
                await one.close()
                await many.close()

        asyncio.run(run())

    async def test_failed_group_keeps_nothing(self, store: Store) -> None:
        """A group that fails halfway is rolled back whole: no call of it is half written."""
        await store._db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.linkedid = '2.1' "
            "BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
        records = [_record(f"{n}.1", "2025550123", False, True, 10.0) for n in (1, 2, 3)]
        with pytest.raises(sqlite3.IntegrityError):
            await store.record_calls(records)
        assert await store.history() == []


class TestLastDrop:
    """The returning-caller lookup answers as the plain query did, with the index in front."""

    @settings(max_examples=150, deadline=None)
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(
                    st.just("call"),
                    st.integers(0, 30),
                    st.sampled_from(sorted(_FORMS)),
                    st.booleans(),
                    st.booleans(),
                    st.integers(0, 100),
                ),
                st.tuples(st.just("ask"), st.sampled_from(sorted(_FORMS)), st.integers(0, 100)),
                st.tuples(st.just("forget"), st.sampled_from(sorted(_FORMS))),
            ),
            max_size=40,
        )
    )
    def test_same_answer_as_the_plain_query(self, steps: list[tuple[object, ...]]) -> None:
        """Calls written singly or in groups, numbers forgotten, windows growing and shrinking."""

        async def run() -> None:
            store = await Store.open(":memory:")
            try:
                for step in steps:
                    if step[0] == "call":
                        _, n, number, abnormal, agent, at = step
                        record = _record(f"{n}.1", str(number), bool(abnormal), bool(agent), float(at))  # type: ignore[arg-type]
                        if int(n) % 2:  # type: ignore[call-overload]
                            await store.record_call(*record)
                        else:
                            await store.record_calls([record])
                    elif step[0] == "ask":
                        _, number, since = step
                        raw, e164 = str(number), _FORMS[str(number)]
                        expected = await _old_last_drop(store, e164, raw, float(since))  # type: ignore[arg-type]
                        assert await store.last_drop(e164, raw, float(since)) == expected  # type: ignore[arg-type]
                    else:
                        await store._db.execute("DELETE FROM calls WHERE customer_number = ?", (step[1],))
                        await store._db.commit()
            finally:
                await store.close()

        asyncio.run(run())

    async def test_drop_written_after_the_seed_is_found(self, store: Store) -> None:
        """A drop written singly or in a group after the index was seeded is found by either form."""
        assert await store.last_drop("+12025550123", "2025550123", 0.0) is None  # seeds the index
        await store.record_calls([_record("1.1", "2025550123", True, True, 50.0)])
        await store.record_call(*_record("2.1", "2025550199", True, True, 60.0))
        first = await store.last_drop("+12025550123", "(202) 555-0123", 10.0)
        second = await store.last_drop("+12025550199", "2025550199", 10.0)
        assert first is not None and first[0] == "1.1" and second is not None and second[0] == "2.1"

    async def test_index_stays_bounded_as_the_window_moves(self, store: Store) -> None:
        """A day of drops, each looked up later: the index keeps about a window's worth, not the day's."""
        for n in range(400):
            call, kind, decision, at, _key = _record(f"{n}.1", "2025550123", True, True, float(n * 10))
            number = f"20255{n:05d}"  # a new customer each time
            await store.record_call(
                dataclasses.replace(call, customer_number=number), kind, decision, at, f"+1{number}"
            )
            assert await store.last_drop("+12025550199", "2025550199", n * 10 - 100.0) is None
        assert len(store.recent_drops) <= 2 * 2 * 11 + 64 + 2

    async def test_caller_without_a_drop_costs_no_query(self, store: Store) -> None:
        """Once the index is seeded, a number it does not list is answered without SQLite."""
        await store.record_call(*_record("1.1", "2025550123", True, True, 50.0))
        assert await store.last_drop("+12025550199", "2025550199", 0.0) is None  # seeds the index
        queries: list[str] = []
        await store._db.set_trace_callback(queries.append)
        assert await store.last_drop("+12025550199", "2025550199", 10.0) is None
        assert queries == []
        found = await store.last_drop("+12025550123", "(202) 555-0123", 10.0)
        assert found is not None and found[0] == "1.1" and queries


class TestRecentDrops:
    """The index itself: a superset of the drops, complete from its seed on."""

    def test_added_drop_is_listed_under_both_forms(self) -> None:
        """A drop is found by its raw number and by its key, only within the window."""
        index = RecentDrops()
        index.seed([], since=0.0)
        index.add("(202) 555-0123", "+12025550123", 50.0)
        assert index.may_have("(202) 555-0123", "", 40.0)
        assert index.may_have("2025550123", "+12025550123", 50.0)
        assert not index.may_have("2025550123", "+12025550123", 51.0)
        assert not index.may_have("2025550199", "+12025550199", 0.0)

    def test_seed_keeps_what_was_added_meanwhile(self) -> None:
        """A drop written while the seed's query ran is not lost when the seed lands."""
        index = RecentDrops()
        index.add("2025550123", "+12025550123", 60.0)
        index.seed([("2025550199", "+12025550199", 30.0)], since=20.0)
        assert index.may_have("x", "+12025550123", 20.0) and index.may_have("x", "+12025550199", 20.0)
        assert index.covers(20.0) and index.covers(25.0) and not index.covers(10.0)

    def test_index_stays_bounded_under_a_steady_stream_of_drops(self) -> None:
        """Drops keep coming for hours while the window moves on: the index holds about a window's worth."""
        index = RecentDrops()
        index.seed([], since=0.0)
        for n in range(20_000):
            now = float(n)  # a drop a second, each from a new number; the window is 600 s
            index.add(f"20255{n:05d}", f"+120255{n:05d}", now)
            index.prune_when_grown(now - 600)
        assert len(index) <= 2 * 2 * 600 + 64 + 2

    def test_seed_prunes_what_no_lookup_can_want(self) -> None:
        """Entries older than the window are dropped, so the index does not grow forever."""
        index = RecentDrops()
        index.add("2025550123", "+12025550123", 5.0)
        index.seed([], since=10.0)
        assert len(index) == 0
