"""Tests for redial.service.control: the control socket, who may use it, and who is recorded."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import socket
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from redial.core.jobs import CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.exceptions import ControlSocketError
from redial.service.control import ControlServer, Peer, attributed, groups_of, may_control, peer_of, user_name

ME = user_name(os.geteuid())
NOBODY = 65534
# A client as another local user: the system's Python, which that user can run.
_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit()
s.sendall(b"POST /redials/7/cancel HTTP/1.1\\r\\n\\r\\n")
print(s.makefile("rb").readline().split()[1].decode())
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every local user may enter (pytest's own are 0700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="redial-control-"))
    path.chmod(0o755)
    yield path
    for entry in path.iterdir():
        entry.unlink()
    path.rmdir()


class Recorder:
    """The daemon's side: the cancels and promises asked for; a promise for 0000 is refused."""

    def __init__(self) -> None:
        self.cancels: list[tuple[int, str]] = []
        self.promises: list[PromiseRequest] = []

    @property
    def calls(self) -> tuple[Callable[[int, str], Awaitable[CancelAnswer]], Callable[..., Awaitable[PromiseAnswer]]]:
        """What ControlServer takes after the status: cancel, then promise."""
        return self.cancel, self.promise

    async def cancel(self, redial_id: int, by: str) -> CancelAnswer:
        self.cancels.append((redial_id, by))
        return CancelAnswer(True, f"redial {redial_id} cancelled")

    async def promise(self, request: PromiseRequest) -> PromiseAnswer:
        self.promises.append(request)
        if request.number == "0000":
            return PromiseAnswer(False, "0000 is a short service number: never called back")
        return PromiseAnswer(True, "promised", 12, 1_800_000_000.0, request.queue or "support", "Alice", "PJSIP/1001")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[ControlServer, Recorder]]:
    recorder = Recorder()
    srv = ControlServer(tmp_path / "control.sock", None, lambda: {"running": True}, *recorder.calls)
    await srv.start()
    yield srv, recorder
    await srv.close()


async def request(path: Path, raw: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def as_nobody(path: Path) -> str:
    """What a local user who is neither the service user nor an admin gets from the socket."""
    assert os.geteuid() == 0, "run the tests as root (make test): they act as another local user"
    done = subprocess.run(
        ["/usr/bin/python3", "-c", _CLIENT, str(path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout.strip()


class TestSocket:
    """The socket is 0660 in the admin group; a stale one is replaced, one in use is not."""

    async def test_mode_and_group(self, tmp_path: Path) -> None:
        """Only the owner and the admin group may connect; the socket goes when the daemon stops."""
        admin = next(g for g in grp.getgrall() if g.gr_gid != os.getegid())
        path = tmp_path / "control.sock"
        srv = ControlServer(path, admin.gr_name, dict, *Recorder().calls)
        await srv.start()
        try:
            info = os.stat(path)
            assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
            assert (info.st_uid, info.st_gid) == (os.geteuid(), admin.gr_gid)
        finally:
            await srv.close()
        assert not path.exists()

    async def test_missing_directory_is_made_0750(self, tmp_path: Path) -> None:
        """A manual run's socket directory is made 0750 under the daemon's umask 077: the admin group gets in."""
        path = tmp_path / "run" / "control.sock"
        srv = ControlServer(path, None, dict, *Recorder().calls)
        old = os.umask(0o077)
        try:
            await srv.start()
        finally:
            os.umask(old)
        await srv.close()
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o750

    async def test_stale_socket_replaced_live_one_refused(self, tmp_path: Path) -> None:
        """A socket a killed run left is replaced; another daemon's socket in use stops this one."""
        path = tmp_path / "control.sock"
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(path))
        stale.close()
        first = ControlServer(path, None, dict, *Recorder().calls)
        await first.start()
        try:
            with pytest.raises(ControlSocketError, match="another process listens"):
                await ControlServer(path, None, dict, *Recorder().calls).start()
            assert (await request(path, b"GET /status HTTP/1.1\r\n\r\n"))[0] == 200
        finally:
            await first.close()

    async def test_not_a_socket_refused(self, tmp_path: Path) -> None:
        """A file in the way is never removed."""
        path = tmp_path / "control.sock"
        path.write_text("keep")
        with pytest.raises(ControlSocketError, match="not a socket"):
            await ControlServer(path, None, dict, *Recorder().calls).start()
        assert path.read_text() == "keep"

    async def test_local_user_cannot_connect(self, shared_dir: Path) -> None:
        """Another local user cannot even connect: the socket's mode keeps them out."""
        recorder = Recorder()
        srv = ControlServer(shared_dir / "control.sock", None, dict, *recorder.calls)
        await srv.start()
        try:
            assert await asyncio.to_thread(as_nobody, srv.path) == "EACCES"
        finally:
            await srv.close()
        assert recorder.cancels == []


class TestPeers:
    """Who is at the other end comes from the kernel, and decides."""

    def test_credentials_of_a_real_socket(self) -> None:
        """SO_PEERCRED gives this process's pid, uid and gid; the service user itself may control."""
        ours, theirs = socket.socketpair(socket.AF_UNIX)
        try:
            peer = peer_of(ours)
        finally:
            ours.close()
            theirs.close()
        assert peer == Peer(os.getpid(), os.geteuid(), os.getegid())
        assert may_control(peer, os.geteuid(), -1, groups_of(peer.uid, peer.gid))
        assert not may_control(Peer(peer.pid, 4242, 4242), os.geteuid(), -1, groups_of(4242, 4242))

    def test_who_may_control(self) -> None:
        """Root, the service user and admin group members; no other local user."""
        service, admin = 990, 991
        assert not may_control(Peer(1, 1000, 1000), service, admin, {1000, 24})
        assert may_control(Peer(1, 1000, 1000), service, admin, {1000, admin})
        assert may_control(Peer(1, 1000, admin), service, admin, {1000})
        assert may_control(Peer(1, service, service), service, admin, {service})
        assert may_control(Peer(1, 0, 0), service, admin, {0})

    def test_attributed(self) -> None:
        """The kernel's user is who did it; the client's words only a comment, printable and short."""
        assert attributed("alice", "") == "alice"
        assert attributed("alice", "bob") == "alice (comment: bob)"
        assert attributed("alice", "bob\r\nx" + "y" * 200) == "alice (comment: bobx" + "y" * 76 + ")"


class TestRequests:
    """Status and cancel over the socket; a peer who may not is refused past the socket's mode too."""

    async def test_status(self, server: tuple[ControlServer, Recorder]) -> None:
        """The snapshot, as JSON."""
        srv, _ = server
        code, body = await request(srv.path, b"GET /status HTTP/1.1\r\n\r\n")
        assert code == 200 and json.loads(body) == {"running": True}
        assert (await request(srv.path, b"GET /metrics HTTP/1.1\r\n\r\n"))[0] == 404

    async def test_cancel_attributed_to_the_peer(self, server: tuple[ControlServer, Recorder]) -> None:
        """Whatever the client says, the cancel is by the user the kernel names; its words are a comment."""
        srv, recorder = server
        code, body = await request(srv.path, b"POST /redials/7/cancel?comment=bob HTTP/1.1\r\n\r\n")
        assert code == 200 and json.loads(body) == {"result": "redial 7 cancelled", "cancelled": True}
        assert (await request(srv.path, b"POST /redials/8/cancel?by=bob HTTP/1.1\r\n\r\n"))[0] == 200
        assert recorder.cancels == [(7, f"{ME} (comment: bob)"), (8, ME)]
        assert (await request(srv.path, b"GET /redials/7/cancel HTTP/1.1\r\n\r\n"))[0] == 405

    async def test_peer_refused_even_when_it_connects(self, shared_dir: Path) -> None:
        """A socket made world-writable by mistake still refuses a user who is not an admin."""
        recorder = Recorder()
        srv = ControlServer(shared_dir / "control.sock", None, dict, *recorder.calls)
        await srv.start()
        try:
            srv.path.chmod(0o666)
            assert await asyncio.to_thread(as_nobody, srv.path) == "403"
        finally:
            await srv.close()
        assert recorder.cancels == []


def post(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


class TestPromises:
    """POST /promises: the body's fields, made by the kernel's user, answered as JSON."""

    async def test_made_by_the_peer(self, server: tuple[ControlServer, Recorder]) -> None:
        """The fields reach the daemon ("in" as within); the maker is the kernel's user, not the body's."""
        srv, recorder = server
        body = b'{"number": "+4930123456", "in": "30m", "agent": "Alice", "note": "invoice", "call": "17.2"}'
        code, answer = await request(srv.path, post("/promises", body))
        assert code == 200
        assert json.loads(answer) == {
            "promise_id": 12,
            "due_at": 1_800_000_000.0,
            "queue": "support",
            "agent": "Alice",
            "detail": "promised",
            "moved_to_opening": False,
        }
        made = recorder.promises[0]
        assert (made.number, made.within, made.at, made.agent, made.note, made.call) == (
            "+4930123456",
            "30m",
            "",
            "Alice",
            "invoice",
            "17.2",
        )
        assert (made.by, made.source) == (ME, "cli")

    async def test_refused_and_malformed(self, server: tuple[ControlServer, Recorder]) -> None:
        """The daemon's refusal, bad JSON and an unknown field ("by" too) are 400 naming what is wrong."""
        srv, recorder = server
        code, answer = await request(srv.path, post("/promises", b'{"number": "0000", "at": "14:30"}'))
        assert code == 400 and json.loads(answer) == {"error": "0000 is a short service number: never called back"}
        code, answer = await request(srv.path, post("/promises", b'{"number": "1", "in": "1m", "by": "bob"}'))
        assert code == 400 and "unknown field 'by'" in json.loads(answer)["error"]
        code, answer = await request(srv.path, post("/promises", b"{nope"))
        assert code == 400 and "not JSON" in json.loads(answer)["error"]
        assert len(recorder.promises) == 1
        assert (await request(srv.path, b"GET /promises HTTP/1.1\r\n\r\n"))[0] == 405

    async def test_daemon_too_slow(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A daemon that does not answer in time gives 503, as a cancel does."""

        async def stuck(_request: PromiseRequest) -> PromiseAnswer:
            await asyncio.sleep(10)
            raise AssertionError("not reached")

        monkeypatch.setattr("redial.service.promise_api.REQUEST_TIMEOUT", 0.05)
        srv = ControlServer(tmp_path / "control.sock", None, dict, Recorder().cancel, stuck)
        await srv.start()
        try:
            code, answer = await request(srv.path, post("/promises", b'{"number": "1", "in": "1m"}'))
        finally:
            await srv.close()
        assert code == 503 and "did not answer in time" in json.loads(answer)["error"]
