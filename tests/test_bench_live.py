"""The live load benchmark's own arithmetic (bench.live_plan): its plan and its judge, fed synthetic AMI events."""

from __future__ import annotations

import os

import pytest

from bench.live_plan import LoadPlan, PbxRecord, check, linkedid_of, plan_load
from bench.machine import ProcSample


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
