"""The whole path on a real Asterisk 22 with SIPp phones: drops in, redials out, checked on the PBX.

Each test runs the real ``redial run`` (config/redial.yaml pointed at the sandbox)
as a subprocess on the shared rig (tests/rig.py) and judges only by what the PBX did:
the observer's AMI events and what the SIPp phones received, never by the daemon's own log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from redial.ami.connection import AmiLink
from redial.config import AmiSettings, Secret
from redial.service.control import user_name
from sandbox import Sandbox, customer_call
from sandbox.observer import where
from tests.rig import CUSTOMER, DID, Rig, open_rig, redial_leg

pytestmark = pytest.mark.integration

WINDOW = 4.0  # callback window the daemon runs with in these tests


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@pytest.fixture
async def rig(rig: Rig) -> Rig:
    """The shared rig (conftest.py) with agent1's phone, the customer's (talks 3 s) and the daemon (window WINDOW)."""
    rig.agent1_and_customer(talk=3)
    await rig.start_daemon(WINDOW)
    return rig


class TestDrops:
    """Abnormal ends get exactly one redial that connects agent and customer."""

    async def test_rtp_timeout_drop(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
            await rig.assert_one_connected_redial()
        finally:
            call.stop()
        # The operator's view of the same run: /metrics and `redial status`.
        metrics = await asyncio.to_thread(_get, "http://127.0.0.1:9327/metrics")
        assert 'redial_drops_total{cause="44",trunk="trunk"} 1.0' in metrics
        assert 'redial_outcomes_total{outcome="connected"} 1.0' in metrics
        assert "redial_ami_connected 1.0" in metrics
        # Status (customers' numbers) and cancel only on the control socket, never on the TCP port.
        for path in ("/status", "/redials/1/cancel"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                await asyncio.to_thread(_get, f"http://127.0.0.1:9327{path}")
            assert refused.value.code == 404
        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "redial.tools.cli", "status", "--config", str(rig.config)],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert status.returncode == 0 and "logged in" in status.stdout, status.stdout + status.stderr
        # history, show and stats read the store this real run filled.
        rows = [json.loads(row) for row in (await rig.cli("history", "--json")).splitlines()]
        (row,) = [r for r in rows if r["classification"] == "abnormal"]
        assert (row["verdict"], row["outcome"], row["cause"]) == ("redial", "connected", 44), row
        timeline = await rig.cli("show", str(row["call_id"]))
        assert "connected" in timeline and "44" in timeline and CUSTOMER in timeline, timeline
        funnel = json.loads(await rig.cli("stats", "--json"))["all"]
        assert (funnel["abnormal_ends"], funnel["redials_attempted"], funnel["connected"]) == (1, 1, 1), funnel

    async def test_bye_with_q850_cause_41(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "bye_q850", did=DID, talk_time=2, cause=41, max_time=25)
        try:
            await rig.drop_seen("41")
            await rig.assert_one_connected_redial()
        finally:
            call.stop()


class TestOperatorCancel:
    """An admin cancels a pending redial through the running daemon: nothing rings, and who asked is kept."""

    async def test_cancel_during_the_window(self, sandbox: Sandbox, tmp_path: Path) -> None:
        window = 12.0
        async with open_rig(sandbox, tmp_path) as rig:
            rig.agent1_and_customer(talk=3)
            agent, customer_phone = rig.phones["agent1"], rig.customer_phone
            await rig.start_daemon(window)
            call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
            try:
                await rig.drop_seen("44")
                await asyncio.sleep(0.5)
                shown = json.loads(await rig.cli("status", "--json"))
                (pending,) = shown["open_redials"]
                assert (pending["customer"], pending["state"]) == (CUSTOMER, "waiting"), shown
                # Over the control socket: the daemon records the caller the kernel names, --by as a comment.
                answer = await rig.cli("cancel", str(pending["redial_id"]), "--by", "alice")
                assert answer.strip() == f"redial {pending['redial_id']} cancelled", answer
                await rig.assert_no_redial(window + 3)
                # The agent's phone rang once: for the original queue call, never for a redial.
                assert len(agent.invites) == 1 and customer_phone is not None and customer_phone.invites == []
                rows = [json.loads(r) for r in (await rig.cli("history", "--json")).splitlines()]
                (row,) = [r for r in rows if r["classification"] == "abnormal"]
                assert row["outcome"] == "cancelled", row
                who = f"cancelled by {user_name(os.geteuid())} (comment: alice)"
                assert who in await rig.cli("show", str(row["call_id"]))
            finally:
                call.stop()


class TestNormalEnds:
    """Normal hang-ups by either side are never redialled."""

    async def test_customer_hangs_up(self, rig: Rig) -> None:
        call = customer_call(CUSTOMER, "hangup", did=DID, talk_time=2, max_time=25)
        try:
            await rig.drop_seen("16")
            await rig.assert_no_redial(WINDOW + 3)
        finally:
            call.stop()

    async def test_agent_hangs_up(self, sandbox: Sandbox, tmp_path: Path) -> None:
        async with open_rig(sandbox, tmp_path) as rig:
            rig.agent1_and_customer(talk=3, agent_hangup_after=2, agent_max_time=60)
            daemon = await rig.start_daemon(WINDOW)
            obs = rig.observer
            call = customer_call(CUSTOMER, "wait_for_bye", did=DID, max_time=25)
            try:
                await obs.wait_for(
                    where(Event="Hangup", Channel=lambda c: c.startswith("PJSIP/agent1-"), Cause="16"), timeout=20
                )
                await asyncio.sleep(WINDOW + 3)
                assert obs.find(redial_leg) == [], daemon.tail()
            finally:
                call.stop()


class TestCallback:
    """A customer who calls back inside the window is not redialled."""

    async def test_customer_calls_back_first(self, rig: Rig) -> None:
        first = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
        finally:
            first.stop()
        again = customer_call(CUSTOMER, "hangup", did=DID, talk_time=1, max_time=25)
        try:
            mark = rig.observer.mark()
            await rig.drop_seen("16", start=mark)
            await rig.assert_no_redial(WINDOW + 3)
        finally:
            again.stop()


class TestRestart:
    """The daemon killed inside the window still redials, exactly once."""

    async def test_sigkill_during_window(self, rig: Rig) -> None:
        daemon = rig.daemon
        assert daemon is not None
        daemon.config = rig.configure(8)
        await asyncio.to_thread(daemon.stop)
        await asyncio.to_thread(daemon.start)
        call = customer_call(CUSTOMER, "rtp_drop", did=DID, max_time=25)
        try:
            await rig.drop_seen("44")
            # The drop is in the store once the daemon logged the waiting redial.
            await asyncio.to_thread(daemon.wait_for, "redial", 10, state="waiting")
            daemon.kill()
            assert rig.redials() == []
            await asyncio.to_thread(daemon.start)
            await rig.assert_one_connected_redial()
        finally:
            call.stop()


class TestLogin:
    """The MD5 challenge login; a wrong secret is reported by username, never by secret, and retried."""

    async def test_md5_challenge_login(self, sandbox: Sandbox) -> None:
        """The daemon's AMI link logs in to the real Asterisk, and no byte it sends holds the secret."""
        sent = bytearray()
        pipes: list[asyncio.Task[None]] = []

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            upstream_reader, upstream_writer = await asyncio.open_connection(sandbox.ami_host, sandbox.ami_port)

            async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, record: bool) -> None:
                try:
                    with contextlib.suppress(ConnectionError):
                        while data := await source.read(65536):
                            if record:
                                sent.extend(data)
                            sink.write(data)
                finally:
                    sink.close()

            pipes.extend(
                (
                    asyncio.create_task(pipe(reader, upstream_writer, True)),
                    asyncio.create_task(pipe(upstream_reader, writer, False)),
                )
            )

        server = await asyncio.start_server(relay, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = AmiSettings(port=port, username=sandbox.ami_username, secret=Secret(sandbox.ami_secret))
        link = AmiLink(settings, lambda _event: None, lambda *state: link.snapshot_applied(state[3]))
        await link.start()
        try:
            deadline = time.monotonic() + 10
            while not link.ready:
                assert time.monotonic() < deadline, "no login to the sandbox Asterisk with the MD5 challenge"
                await asyncio.sleep(0.05)
        finally:
            await link.close()
            server.close()
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
        challenge, _, login = bytes(sent).partition(b"Action: Login")
        assert b"Action: Challenge" in challenge and b"AuthType: MD5" in challenge and b"AuthType: MD5" in login
        assert sandbox.ami_secret.encode() not in sent and b"Secret:" not in sent

    async def test_refused_login(self, sandbox: Sandbox, tmp_path: Path) -> None:
        async with open_rig(sandbox, tmp_path) as rig:
            config = rig.configure(WINDOW)
            wrong = "wrong-" + sandbox.ami_secret
            config.write_text(config.read_text().replace(sandbox.ami_secret, wrong))
            daemon = rig.new_daemon(config)
            with pytest.raises(AssertionError, match="did not log in"):
                await asyncio.to_thread(daemon.start, 6.0)
            refusals = daemon.lines("ami_login_refused")
            # Retried every reconnect_delay (2 s) while it runs, without exiting.
            assert len(refusals) >= 2 and refusals[0]["username"] == "redial"
            text = daemon.log_path.read_text()
            assert wrong not in text and sandbox.ami_secret not in text
