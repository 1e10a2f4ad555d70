"""Tests for redial.tools.cli_records: ``redial history``, ``redial show`` and ``redial stats``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from redial.clock import ManualClock
from redial.config import parse_settings
from redial.service.replay import load_frames, replay
from redial.store import Store
from redial.tools.cli import main


class TestHistory:
    """``redial history`` reads what the daemon recorded."""

    def test_lists_drop_and_normal(self, corpus: Path, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"

        async def fill() -> None:
            store = await Store.open(path)
            settings = parse_settings({}, env={})
            for name in ("drop_rtp_timeout.ami", "normal_customer_hangup.ami"):
                await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1.8e9))
            await store.close()

        asyncio.run(fill())
        file = tmp_path / "r.yaml"
        file.write_text(f"store:\n  path: {path}\n")
        result = CliRunner().invoke(main, ["history", "--config", str(file)])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert len(lines) == 3
        assert any("redial" in line and "44" in line for line in lines[1:])
        assert any("skip:normal_end" in line for line in lines[1:])
        as_json = CliRunner().invoke(main, ["history", "--config", str(file), "--json"])
        assert as_json.output.count("\n") == 2 and '"cause": 44' in as_json.output


def _filled_store(corpus: Path, tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite3"

    async def fill() -> None:
        store = await Store.open(path)
        settings = parse_settings({}, env={})
        names = ("drop_rtp_timeout.ami", "normal_customer_hangup.ami", "drop_bye_q850_41.ami")
        for name in names:
            await replay(load_frames(corpus / "asterisk22" / name), settings, store, ManualClock(1795428000.0))
        await store.close()

    asyncio.run(fill())
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\n")
    return file


class TestOperatorCommands:
    """history filters, show and stats on a store filled from the recordings."""

    def test_history_filters(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        every = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2026-11-01"])
        assert every.output.count("\n") == 3
        normal = CliRunner().invoke(main, ["history", "--config", config, "--json", "--outcome", "normal_end"])
        assert normal.output.count("\n") == 1 and '"cause": 16' in normal.output
        none = CliRunner().invoke(main, ["history", "--config", config, "--json", "--agent", "Bob"])
        assert none.output == ""
        later = CliRunner().invoke(main, ["history", "--config", config, "--json", "--since", "2027-01-01"])
        assert later.output == ""
        table = CliRunner().invoke(main, ["history", "--config", config])
        assert len(table.output.splitlines()) == 4 and all(len(line) <= 80 for line in table.output.splitlines())
        bad = CliRunner().invoke(main, ["history", "--config", config, "--since", "soon"])
        assert bad.exit_code == 2 and "--since" in bad.output

    def test_show_timeline(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(main, ["show", "--config", config, "1"])
        assert result.exit_code == 0, result.output
        assert "answered by Alice" in result.output and "cause 44: abnormal" in result.output
        assert "redial waiting" in result.output and "redial originating" in result.output
        missing = CliRunner().invoke(main, ["show", "--config", config, "99"])
        assert missing.exit_code == 1 and "no call with ID 99" in missing.output

    def test_stats(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        result = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert '"abnormal_ends": 2' in result.output and '"answered": 3' in result.output
        assert '"redials_attempted": 2' in result.output
        table = CliRunner().invoke(
            main, ["stats", "--config", config, "--since", "2026-11-01", "--until", "2027-01-01", "--by", "queue"]
        )
        assert table.output.splitlines()[1].split()[:3] == ["support", "3", "2"]
        assert all(len(line) <= 80 for line in table.output.splitlines())


T0 = 1795428000.0  # 2026-11-23 10:00 UTC
RANGE = ["--since", "2026-11-01", "--until", "2027-01-01"]


def _call(db: sqlite3.Connection, linkedid: str, queue: str, classification: str = "unanswered") -> int:
    cursor = db.execute(
        """INSERT INTO calls (linkedid, customer_uniqueid, customer_channel, customer_number, dialled, queue,
                              trunk, answered_at, ended_at, ended_by, transferred, classification, verdict,
                              reason, detail, recorded_at)
           VALUES (?, ?, 'PJSIP/trunk-01', '2025550123', '100', ?, 'trunk', ?, ?, 'customer', 0, ?, ?, ?, '', ?)""",
        (
            linkedid,
            linkedid,
            queue,
            None if classification == "unanswered" else T0 - 60,
            T0,
            classification,
            "redial" if classification == "abnormal" else "skip",
            "abnormal_end" if classification == "abnormal" else "not_answered",
            T0,
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _job(
    db: sqlite3.Connection,
    call_id: int,
    *,
    kind: str = "queue_callback",
    state: str = "done",
    outcome: str | None = None,
    rings: int = 1,
    created_at: float = T0,
    connected_at: float | None = None,
) -> None:
    """A job as the engine leaves it; a connected one's agent is released 10 minutes later."""
    cursor = db.execute(
        """INSERT INTO redials (call_id, state, due_at, channel_id, outcome, detail, updated_at, created_at,
                                rings, kind)
           VALUES (?, ?, ?, '', ?, '', ?, ?, ?, ?)""",
        (call_id, state, created_at, outcome, (connected_at or created_at) + 600, created_at, rings, kind),
    )
    if rings:
        db.execute(
            "INSERT INTO redial_log (redial_id, at, state, detail) VALUES (?, ?, 'originating', '')",
            (cursor.lastrowid, created_at + 1),
        )
    if connected_at is not None:
        db.execute(
            "INSERT INTO redial_log (redial_id, at, state, outcome, detail) VALUES (?, ?, 'done', 'connected', '')",
            (cursor.lastrowid, connected_at),
        )


def _callback_store(tmp_path: Path) -> str:
    """A drop redialled in billing; queue callbacks in support (every way they end) and sales (refused)."""
    path = tmp_path / "s.sqlite3"

    async def create() -> None:
        await (await Store.open(path)).close()

    asyncio.run(create())
    with sqlite3.connect(path) as db:
        _job(db, _call(db, "1.1", "billing", "abnormal"), kind="drop_redial", outcome="connected", connected_at=T0)
        # Whatever the call that asked was classified, its callback is not a drop redial.
        reached = _call(db, "2.1", "support", "abnormal")
        _job(db, reached, outcome="connected", connected_at=T0 + 300)
        _job(db, _call(db, "3.1", "support"), outcome="connected", rings=2, created_at=T0 + 10, connected_at=T0 + 610)
        _job(db, _call(db, "4.1", "support"), outcome="unreached", rings=3)
        _job(db, _call(db, "5.1", "support"), outcome="customer_called_back", rings=0)
        _job(db, _call(db, "6.1", "support"), state="waiting", rings=0)
        _job(db, _call(db, "7.1", "support"), outcome="connected", created_at=T0 - 40 * 86400)  # before --since
        offers = [
            ("support", "offered"),
            ("support", "offered"),
            ("support", "offered"),
            ("support", "accepted"),
            ("support", "accepted"),
            ("support", "merged"),
            ("support", "number_refused"),
            ("support", "not_offered", "closed"),
            ("sales", "not_offered", "queue full"),
        ]
        for queue, event, *detail in offers:
            db.execute(
                "INSERT INTO callback_offers (queue, at, event, detail) VALUES (?, ?, ?, ?)",
                (queue, T0, event, detail[0] if detail else ""),
            )
        db.execute(
            "INSERT INTO callback_offers (queue, at, event) VALUES ('support', ?, 'offered')", (T0 - 40 * 86400,)
        )
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\n")
    return str(file)


class TestQueueCallbackStats:
    """``redial stats`` adds the queue-callback funnel per queue; the drop funnel leaves callbacks out."""

    def test_json(self, tmp_path: Path) -> None:
        config = _callback_store(tmp_path)
        result = CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--json"])
        assert result.exit_code == 0, result.output
        output = json.loads(result.output)
        # The drop funnel: one redial attempted and connected, not the callback on an "abnormal" call.
        assert output["all"]["connected"] == 1 and output["all"]["redials_attempted"] == 1
        assert output["all"]["abnormal_ends"] == 2
        callbacks = output["queue_callbacks"]
        assert list(callbacks) == ["sales", "support"]
        assert callbacks["support"] == {
            "offered": 3,
            "not_offered": 1,
            "not_offered_by_reason": {"closed": 1},
            "accepted": 3,
            "merged": 1,
            "number_refused": 1,
            "requested": 5,
            "served": 3,
            "reached": 2,
            "unreached": 1,
            "cancelled": 1,
            "ended_otherwise": {},
            "pending": 1,
            # From the log's connected time, not updated_at (moved when the agent was released).
            "request_to_callback_median_seconds": 450.0,
            "request_to_callback_p90_seconds": 570.0,
        }
        assert callbacks["sales"]["not_offered_by_reason"] == {"queue full": 1}
        assert callbacks["sales"]["requested"] == 0

    def test_text(self, tmp_path: Path) -> None:
        config = _callback_store(tmp_path)
        result = CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--by", "queue"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert all(len(line) <= 80 for line in lines)
        start = lines.index("queue callbacks")
        drops, callbacks = lines[:start], lines[start + 1 :]
        assert drops[-1] == ""
        assert [line.split()[0] for line in drops[1:-1] if not line.startswith(" ")] == ["billing", "support"]
        assert callbacks[0].split()[:2] == ["QUEUE", "OFFERED"]
        rows = {line.split()[0]: line.split()[1:] for line in callbacks[1:] if not line.startswith(" ")}
        # billing had no callback activity: not listed.
        assert rows == {"sales": ["0", "1", "0", "0", "0", "0", "0", "0"], "support": [*"31332111"]}
        assert "   not offered (queue full): 1" in result.output
        assert "   merged into a pending request: 1" in result.output
        assert "   request to callback: median 7m30s, 90th percentile 9m30s" in result.output

    def test_no_callbacks_no_section(self, corpus: Path, tmp_path: Path) -> None:
        config = str(_filled_store(corpus, tmp_path))
        table = CliRunner().invoke(main, ["stats", "--config", config, *RANGE])
        assert table.exit_code == 0 and "queue callbacks" not in table.output
        as_json = CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--json"])
        assert json.loads(as_json.output)["queue_callbacks"] == {}

    def test_callbacks_without_drops(self, tmp_path: Path) -> None:
        path = tmp_path / "s.sqlite3"
        config = _callback_store(tmp_path)
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM redial_log")
            db.execute("DELETE FROM redials")
            db.execute("DELETE FROM calls")
        result = CliRunner().invoke(main, ["stats", "--config", config, *RANGE])
        lines = result.output.splitlines()
        assert lines[0] == "no calls in that period" and "queue callbacks" in lines
        rows = lines[lines.index("queue callbacks") + 2 :]
        assert [line.split()[0] for line in rows if not line.startswith(" ")] == ["sales", "support"]


class TestPromiseRows:
    """A promise's own row shows as a promise in history and stays out of the drop funnel."""

    def test_history_and_funnel(self, corpus: Path, tmp_path: Path) -> None:
        from redial.core.commands import RecordPromise

        config = _filled_store(corpus, tmp_path)
        path = tmp_path / "s.sqlite3"

        async def add() -> None:
            store = await Store.open(path)
            promise = RecordPromise(
                key="k1",
                number="2025550123",
                number_key="+12025550123",
                dial_number="2025550123",
                dialled="100",
                queue="promiseq",
                trunk="trunk",
                owner_interface="PJSIP/agent9",
                owner_member="Zed",
                due_at=T0 + 600,
                note="",
                made_by="alice",
                source="cli",
                original_uniqueid="",
                channel_prefix="redial",
            )
            await store.record_promise(promise, T0)
            await store.close()

        asyncio.run(add())
        history = CliRunner().invoke(main, ["history", "--config", str(config)])
        assert any("promiseq" in line and " promise" in line for line in history.output.splitlines()), history.output
        result = CliRunner().invoke(main, ["stats", "--config", str(config), *RANGE, "--by", "queue", "--json"])
        assert result.exit_code == 0, result.output
        assert "promiseq" not in json.loads(result.output)


def _promise_store(tmp_path: Path) -> str:
    """Alice's promises in support: one she kept, one Bob kept late, one pending."""
    from redial.core.commands import RecordPromise, SaveJob
    from redial.core.jobs import JobState, Outcome

    path = tmp_path / "s.sqlite3"

    def made(key: str) -> RecordPromise:
        return RecordPromise(
            key, "2025550123", "+12025550123", "2025550123", "100", "support", "trunk", "PJSIP/1001", "Alice",
            T0 + 3600, "", "alice", "cli", "", "redial",
        )  # fmt: skip

    async def create() -> None:
        store = await Store.open(path)
        try:
            for key, ring, late in (("a", "PJSIP/1001", False), ("b", "PJSIP/1002", True)):
                job = await store.record_promise(made(key), T0)
                moved = job.changed(state=JobState.DONE, outcome=Outcome.CONNECTED, ring_interface=ring, late=late)
                await store.save_job(SaveJob.over(job, moved), T0 + 3600)
            await store.record_promise(made("c"), T0)
        finally:
            await store.close()

    asyncio.run(create())
    file = tmp_path / "r.yaml"
    file.write_text(f"store:\n  path: {path}\n")
    return str(file)


class TestPromiseStats:
    """``redial stats`` adds the promise funnel per queue; ``--by agent`` who kept whose promises."""

    def test_json(self, tmp_path: Path) -> None:
        """The funnel always, the per-agent table with --by agent; a promise is no call in the drop funnel."""
        config = _promise_store(tmp_path)
        plain = json.loads(CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--json"]).output)
        assert plain["promises"]["support"]["made"] == 3 and plain["promises"]["support"]["kept_late"] == 1
        assert "promises_by_agent" not in plain and "all" not in plain
        result = CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--by", "agent", "--json"])
        by_agent = json.loads(result.output)["promises_by_agent"]
        assert list(by_agent) == ["Alice", "PJSIP/1002"]
        assert by_agent["Alice"]["kept_by_owner"] == 1 and by_agent["Alice"]["kept_by_other"] == 1
        assert by_agent["Alice"]["pending"] == 1 and by_agent["PJSIP/1002"]["kept_for_others"] == 1

    def test_text(self, tmp_path: Path) -> None:
        """Both tables, in 80 columns, after the drop funnel."""
        config = _promise_store(tmp_path)
        result = CliRunner().invoke(main, ["stats", "--config", config, *RANGE, "--by", "agent"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert all(len(line) <= 80 for line in lines)
        funnel = lines.index("promised callbacks")
        assert lines[funnel + 2].split() == ["support", "3", "2", "1", "0", "0", "0", "1"]
        assert lines[funnel + 6].split() == ["Alice", "3", "1", "1", "1", "0", "0", "1", "0"]
        plain = CliRunner().invoke(main, ["stats", "--config", config, *RANGE]).output
        assert "promised callbacks" in plain and "by owner" not in plain
