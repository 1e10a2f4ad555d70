"""The control socket: ``GET /status``, ``POST /redials/<id>/cancel`` and ``POST /promises`` over
HTTP/1.1 on a Unix socket.

Only root, the service user and members of the admin group (``control.group``, by
default the service's own group) may use it. The socket is mode 0660 in that group, so
nobody else can connect, and each connection's ``SO_PEERCRED`` is checked again. Who
did something is the peer's user name from the kernel, never what the client says: a
client's ``comment`` is only appended ("cancelled by alice (comment: bob)").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import json
import os
import pwd
import re
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import structlog

from redial.core.jobs import CancelAnswer
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.exceptions import ControlSocketError
from redial.service import status as http
from redial.service.promise_api import promise_response
from redial.service.status import NOT_FOUND, Request, Response

SOCKET_MODE = 0o660
COMMENT_LENGTH = 80
_CANCEL = re.compile(r"/redials/(\d{1,12})/cancel")


@dataclass(frozen=True, slots=True)
class Peer:
    """The process at the other end of a Unix socket, as the kernel saw it connect."""

    pid: int
    uid: int
    gid: int


def peer_of(sock: socket.socket) -> Peer:
    """``SO_PEERCRED`` of a connected Unix socket."""
    size = struct.calcsize("3i")
    pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size))
    return Peer(pid, uid, gid)


def user_name(uid: int) -> str:
    """The user's name, or ``uid <n>`` for a uid no user database knows."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def groups_of(uid: int, gid: int) -> frozenset[int]:
    """Every group of the user ``uid`` (their primary ``gid`` included), from the group database."""
    try:
        return frozenset(os.getgrouplist(pwd.getpwuid(uid).pw_name, gid))
    except KeyError:
        return frozenset({gid})


def may_control(peer: Peer, service_uid: int, admin_gid: int, groups: Collection[int]) -> bool:
    """Root, the service user, or a member of the admin group (``groups``: the peer's groups)."""
    return peer.uid in (0, service_uid) or peer.gid == admin_gid or admin_gid in groups


def attributed(user: str, comment: str) -> str:
    """Who did it, for the store and the log: the kernel's user, the client's words only as a comment."""
    comment = "".join(ch for ch in comment if ch.isprintable()).strip()[:COMMENT_LENGTH]
    return f"{user} (comment: {comment})" if comment else user


def admin_group(name: str | None) -> int:
    """The gid of ``control.group``; None is this process's own group."""
    if name is None:
        return os.getegid()
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ControlSocketError(f"control.group: there is no group {name!r} on this host") from None


class ControlServer:
    """Listens on the control socket; a socket it cannot set up stops the daemon (:class:`ControlSocketError`)."""

    def __init__(
        self,
        path: Path,
        group: str | None,
        status: Callable[[], dict[str, object]],
        cancel: Callable[[int, str], Awaitable[CancelAnswer]],
        promise: Callable[[PromiseRequest], Awaitable[PromiseAnswer]],
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self.path = path
        self._group = group
        self._status, self._cancel, self._promise = status, cancel, promise
        self._log = log if log is not None else structlog.get_logger("redial.control")
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._service_uid = os.geteuid()
        self._admin_gid = -1

    async def start(self) -> None:
        """Create the socket, mode 0660 in the admin group; raise :class:`ControlSocketError` if it cannot be."""
        self._admin_gid = admin_group(self._group)
        self._clear_stale()
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))
            os.chown(self.path, -1, self._admin_gid)
            os.chmod(self.path, SOCKET_MODE)
            self._inode = os.stat(self.path).st_ino
        except OSError as exc:
            await self.close()
            hint = ""
            if exc.errno == errno.EPERM:
                group = self._group or self._admin_gid
                hint = f"; the service user must be a member of the group {group} (SupplementaryGroups=)"
            raise ControlSocketError(f"cannot set up the control socket {self.path}: {exc.strerror}{hint}") from None
        self._log.info("control_listening", socket=str(self.path), group=self._admin_gid)

    def _clear_stale(self) -> None:
        """Make the directory if missing (0750); remove a socket a crashed run left; refuse one in use."""
        try:
            parent = self.path.parent
            if not parent.exists():
                parent.mkdir(mode=0o750)
                # mkdir's mode passes through the daemon's umask (077): the admin group needs x.
                os.chmod(parent, 0o750)
                with contextlib.suppress(OSError):
                    os.chown(parent, -1, self._admin_gid)
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ControlSocketError(f"cannot set up the control socket {self.path}: {exc.strerror}") from None
        if not stat.S_ISSOCK(mode):
            raise ControlSocketError(f"{self.path} exists and is not a socket; remove it or set control.socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except ConnectionRefusedError:
            os.unlink(self.path)  # nobody listens: left behind by a run that was killed
            return
        except OSError as exc:
            raise ControlSocketError(f"cannot check the control socket {self.path}: {exc.strerror}") from None
        finally:
            probe.close()
        raise ControlSocketError(f"another process listens on the control socket {self.path}; set control.socket")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        # Only our own socket: another daemon may have replaced it meanwhile.
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._inode = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer.get_extra_info("socket"))
        user = user_name(peer.uid)
        if not may_control(peer, self._service_uid, self._admin_gid, groups_of(peer.uid, peer.gid)):
            self._log.warning("control_refused", user=user, uid=peer.uid, pid=peer.pid)

            async def refuse(_request: Request) -> Response:
                return 403, "text/plain", f"{user} may not use the control socket\n".encode()

            await http.serve_request(reader, writer, refuse, self._log)
            return

        async def route(request: Request) -> Response:
            return await self._route(user, request)

        await http.serve_request(reader, writer, route, self._log)

    async def _route(self, user: str, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/status" and method == "GET":
            return 200, "application/json", json.dumps(self._status(), sort_keys=True).encode() + b"\n"
        if path == "/promises":
            if method != "POST":
                return 405, "text/plain", b"use POST\n"
            # Made by the kernel's user: never a name the body gives.
            return await promise_response(self._promise, request.body, user, "cli", self._log)
        match = _CANCEL.fullmatch(path)
        if not match:
            return NOT_FOUND
        if method != "POST":
            return 405, "text/plain", b"use POST\n"
        who = attributed(user, (request.query.get("comment") or [""])[0])
        try:
            result = await asyncio.wait_for(self._cancel(int(match.group(1)), who), http.REQUEST_TIMEOUT)
        except TimeoutError:
            text = b"the daemon did not carry out the cancel in time; it may still: see redial status\n"
            return 503, "text/plain", text
        except Exception as exc:
            return 500, "text/plain", f"the cancel failed: {exc}\n".encode()
        self._log.info("control_cancel", redial_id=int(match.group(1)), by=who, cancelled=result.cancelled)
        answer = {"result": result.text, "cancelled": result.cancelled}
        return 200, "application/json", json.dumps(answer).encode() + b"\n"
