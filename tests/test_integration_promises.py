"""Promised callbacks on the sandbox Asterisk: made with `redial promise` or the HTTP API, kept on the PBX.

A promise in queue ``support`` owned by agent1 comes due a few seconds after it is made:
the daemon reserves agent1 and rings their phone first ("PROMISED <number>"), then the
customer, and keeps it once they talked ``min_talk`` seconds. agent2 joins the queue where
another member must take it. Each test is judged on the PBX's events and the phones' INVITEs.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.observer import AmiMessage, where
from tests.ports import free_port
from tests.rig import AGENT1, AGENT2, AGENT3, CUSTOMER, SUPPORT, Rig, redial_leg, trunk_channel

pytestmark = pytest.mark.integration

# Short enough for a test: kept after 2 s of talk; the ladder's rungs a few seconds apart.
_PROMISE_POLICY = {"min_talk": 2, "ladder": ["3s"], "owner_ring_timeout": 6, "owner_wait": 5}


async def start(rig: Rig, *, promise: dict[str, Any] | None = None, **policy: Any) -> Path:
    """The daemon with promises configured for the tests; customers reached on the sandbox's trunk."""
    config = rig.configure(
        3.0, originate={"trunk": "trunk", "customer_ring_timeout": 6}, promise={**_PROMISE_POLICY}, **policy
    )
    if promise is not None:
        data = yaml.safe_load(config.read_text())
        data["promise"] = promise
        config.write_text(yaml.safe_dump(data))
    await asyncio.to_thread(rig.new_daemon(config).start)
    return config


async def promise(rig: Rig, *args: str) -> int:
    """`redial promise CUSTOMER ...`: the id it prints on its first line."""
    out = await rig.cli("promise", CUSTOMER, *args)
    return int(out.split()[0])


async def kept(rig: Rig, start: int, agent: str) -> tuple[AmiMessage, AmiMessage]:
    """The promise's leg rings ``agent``'s phone, then the customer's, both in one bridge: (agent leg, customer leg)."""
    obs = rig.observer
    leg = await obs.wait_for(redial_leg, timeout=20, start=start, what="the promise's agent leg")
    assert leg["Channel"].startswith(f"{agent}-"), leg["Channel"]
    customer = await obs.wait_for(
        where(Event="Newchannel", Linkedid=leg["Uniqueid"], Channel=trunk_channel), timeout=20, what="customer leg"
    )
    agent_in = await obs.wait_for(where(Event="BridgeEnter", Uniqueid=leg["Uniqueid"]), timeout=20, what="agent in")
    customer_in = await obs.wait_for(
        where(Event="BridgeEnter", Uniqueid=customer["Uniqueid"]), timeout=20, what="customer bridged"
    )
    assert agent_in["BridgeUniqueid"] == customer_in["BridgeUniqueid"]
    return leg, customer


async def metric(line: str) -> bool:
    body = await asyncio.to_thread(lambda: urllib.request.urlopen("http://127.0.0.1:9327/metrics").read().decode())
    return line in body


async def promise_rows(rig: Rig) -> list[dict[str, Any]]:
    return [r for r in await rig.history() if r.get("classification") == "promise"]


class TestKeptByOwner:
    """A promise comes due: its owner is reserved and rung first, then the customer; kept after min_talk."""

    async def test_kept_by_owner_on_time(self, rig: Rig) -> None:
        agent = rig.agent("agent1")
        customer_phone = rig.customer(5)
        await start(rig)
        mark = rig.observer.mark()
        made_at = time.time()
        promise_id = await promise(rig, "--in", "4s", "--agent", "agent1", "--queue", SUPPORT, "--note", "refund 1234")
        leg, _ = await kept(rig, mark, AGENT1)
        rang_at = time.time()
        assert rang_at >= made_at + 3.5, "rung before the time promised"
        assert agent.invites[-1].from_name.startswith("PROMISED") and agent.invites[-1].from_user == CUSTOMER
        # Reserved while it rang: paused with the daemon's reason.
        assert rig.observer.find(where(Event="QueueMemberPause", Interface=AGENT1, Paused="1"), mark)
        assert rig.daemon is not None
        await asyncio.to_thread(rig.daemon.wait_for, "redial", 20, redial_id=promise_id, outcome="connected")
        (row,) = await promise_rows(rig)
        assert row["outcome"] == "connected", row
        assert len(customer_phone.invites) == 1 and len(rig.observer.find(redial_leg, mark)) == 1
        assert await metric('redial_promises_total{event="kept_by_owner",queue="support"} 1.0')
        entry = f"prm-{leg['Uniqueid'].split('-prm-', 1)[1]}"
        lines = [line.split("|") for line in rig.sandbox.queue_log_path.read_text().splitlines()]
        verbs = [f[4] for f in lines if len(f) > 4 and f[1] == entry and f[2] == SUPPORT]
        assert verbs == ["PROMISEMADE", "PROMISESTART", "PROMISEEND"], verbs


class TestAnotherMember:
    """The owner cannot take it: another member of the queue keeps it, at once."""

    async def test_owner_logged_off(self, rig: Rig) -> None:
        rig.agent("agent1")
        agent3 = rig.agent("agent3")
        rig.customer(5)
        await rig.queue_add(SUPPORT, AGENT3)
        await start(rig)
        mark = rig.observer.mark()
        await promise(rig, "--in", "3s", "--agent", "Carol", "--queue", SUPPORT)
        await rig.queue_remove(SUPPORT, AGENT3)  # Carol logs off before the time promised
        await kept(rig, mark, AGENT1)
        assert agent3.invites == []
        assert rig.daemon is not None
        await asyncio.to_thread(rig.daemon.wait_for, "redial", 20, outcome="connected")
        assert await metric('redial_promises_total{event="kept_by_other",queue="support"} 1.0')

    async def test_owner_does_not_answer(self, rig: Rig) -> None:
        rig.agent("agent1", mode="noanswer")
        agent2 = rig.agent("agent2")
        rig.customer(5)
        await rig.queue_add(SUPPORT, AGENT2)
        await start(rig)
        mark = rig.observer.mark()
        await promise(rig, "--in", "2s", "--agent", "agent1", "--queue", SUPPORT)
        first = await rig.observer.wait_for(redial_leg, timeout=15, start=mark, what="the owner's leg")
        assert first["Channel"].startswith(f"{AGENT1}-")
        await kept(rig, rig.index(first) + 1, AGENT2)
        assert agent2.invites[-1].from_name.startswith("PROMISED")


class TestNotReached:
    """A customer who never answers is tried along the ladder, then unreached: status, metrics, webhook."""

    async def test_ladder_then_unreached_with_webhook(self, rig: Rig) -> None:
        received: list[dict[str, Any]] = []

        async def hook(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            received.append(json.loads(await reader.readexactly(length)))
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        port = free_port()
        server = await asyncio.start_server(hook, "127.0.0.1", port)
        try:
            rig.agent("agent1", hangup_after=None)
            customer_phone = rig.customer(5, mode="noanswer")
            await start(rig, promise={"webhook": f"http://127.0.0.1:{port}/redial"})
            mark = rig.observer.mark()
            promise_id = await promise(rig, "--in", "1s", "--agent", "agent1", "--queue", SUPPORT)
            assert rig.daemon is not None
            await asyncio.to_thread(rig.daemon.wait_for, "promise_unreached", 60, redial_id=promise_id)
            # Two attempts (the first and the ladder's one rung), each rang the customer, none bridged.
            legs = rig.observer.find(redial_leg, mark)
            assert len(legs) == 2 and len(customer_phone.invites) == 2, legs
            status = await rig.cli("status")
            assert "promises not reached since start: 1" in status, status
            assert await metric('redial_promises_total{event="unreached",queue="support"} 1.0')
            for _ in range(50):
                if received:
                    break
                await asyncio.sleep(0.1)
            (payload,) = received
            assert payload["event"] == "promise_unreached" and payload["promise_id"] == promise_id, payload
            assert payload["customer"] == CUSTOMER and payload["attempts"] == 2
        finally:
            server.close()
            await server.wait_closed()


class TestHttpApi:
    """A CRM makes a promise over the HTTP API (bearer token); it is kept like any other."""

    async def test_promise_through_the_api(self, rig: Rig) -> None:
        rig.agent("agent1")
        rig.customer(5)
        token = rig.workdir / "api.token"
        token.write_text("s3cret-token-for-the-crm-0123456789\n")
        os.chmod(token, 0o600)
        port = free_port()
        await start(rig, promise={"api": {"enabled": True, "port": port, "token_file": str(token)}})
        mark = rig.observer.mark()
        body = json.dumps({"number": CUSTOMER, "in": "2s", "agent": "agent1", "queue": SUPPORT, "note": "crm"})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/promises",
            data=body.encode(),
            headers={"Authorization": "Bearer s3cret-token-for-the-crm-0123456789", "Content-Type": "application/json"},
            method="POST",
        )
        answer = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read()))
        assert isinstance(answer["promise_id"], int), answer
        await kept(rig, mark, AGENT1)
        assert "s3cret-token" not in rig.log()


class TestOnce:
    """A daemon killed before the time promised keeps the promise once after its restart."""

    async def test_daemon_restarted_before_due(self, rig: Rig) -> None:
        rig.agent("agent1")
        customer_phone = rig.customer(5)
        await start(rig)
        mark = rig.observer.mark()
        await promise(rig, "--in", "6s", "--agent", "agent1", "--queue", SUPPORT)
        assert rig.daemon is not None
        rig.daemon.kill()
        await asyncio.to_thread(rig.daemon.start)
        await kept(rig, mark, AGENT1)
        await asyncio.sleep(3)
        assert len(rig.observer.find(redial_leg, mark)) == 1 and len(customer_phone.invites) == 1


class TestBusinessHours:
    """A promise due while the queue is closed is moved to its next opening, and nothing rings before."""

    async def test_moved_to_the_next_opening(self, rig: Rig) -> None:
        rig.agent("agent1")
        rig.customer(5)
        # Closed all day today (UTC), open tomorrow: the next opening is tomorrow 00:00.
        today = time.strftime("%a", time.gmtime()).lower()
        tomorrow = time.strftime("%a", time.gmtime(time.time() + 86400)).lower()
        await start(rig, hours={"timezone": "UTC", "weekly": {today: [], tomorrow: ["00:00-23:59"]}})
        mark = rig.observer.mark()
        await promise(rig, "--in", "1s", "--agent", "agent1", "--queue", SUPPORT)
        await asyncio.sleep(4)
        assert rig.observer.find(redial_leg, mark) == []
        status = json.loads(await rig.cli("status", "--json"))
        (open_promise,) = [r for r in status["open_redials"] if r["kind"] == "promised_callback"]
        opening = (int(time.time()) // 86400 + 1) * 86400
        assert abs(open_promise["due_at"] - opening) < 1, open_promise
