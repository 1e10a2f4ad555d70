"""Tests for redial.service.promise_api: the promise JSON, the bearer token, the CRM's port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from redial.config.promise_settings import PromiseApi
from redial.config.settings import Secret
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.exceptions import ConfigError, PortUnavailable
from redial.service.promise_api import BadPromise, PromiseApiServer, authorized, load_token, parse_promise
from tests.ports import free_port

TOKEN = "0123456789abcdef0123"


class TestParse:
    """The body's shape is checked here, everything else by the daemon."""

    def test_fields(self) -> None:
        """Every field reaches the request, "in" as within, trimmed; who and how come from the route."""
        body = b'{"number": " +4930123456 ", "at": "14:30", "agent": "PJSIP/1001", "queue": "support", "note": "n"}'
        made = parse_promise(body, "alice", "cli")
        assert made == PromiseRequest(
            number="+4930123456", at="14:30", agent="PJSIP/1001", queue="support", note="n", by="alice", source="cli"
        )
        assert parse_promise(b'{"number": "1", "in": "2h", "call": "17.2"}', "api", "api").within == "2h"

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (b"[1]", "must be a JSON object"),
            (b"\xff", "not JSON"),
            (b'{"number": "1", "in": "1m", "when": "x"}', "unknown field 'when'"),
            (b'{"number": "1", "in": 30}', "in: expected a string, got 30"),
            (b'{"in": "1m"}', "number: the customer's number is missing"),
            (b'{"number": "1"}', "exactly one of"),
            (b'{"number": "1", "in": "1m", "at": "14:30"}', "exactly one of"),
        ],
    )
    def test_refused(self, body: bytes, words: str) -> None:
        """Each malformed body is refused with words that name what is wrong."""
        with pytest.raises(BadPromise, match=words):
            parse_promise(body, "api", "api")


class TestToken:
    """The token file is read at start; a request must carry exactly its token."""

    def test_bearer(self) -> None:
        """Only "Bearer <token>" passes; an empty token never does."""
        token = Secret(TOKEN)
        assert authorized({"authorization": f"Bearer {TOKEN}"}, token)
        assert authorized({"authorization": f"bearer {TOKEN}"}, token)
        assert not authorized({"authorization": f"Bearer {TOKEN}x"}, token)
        assert not authorized({"authorization": f"Basic {TOKEN}"}, token)
        assert not authorized({}, token)
        assert not authorized({"authorization": "Bearer "}, Secret(""))

    def test_load(self, tmp_path: Path) -> None:
        """Read and trimmed; a missing file or a short token stops the start, naming the key."""
        file = tmp_path / "token"
        file.write_text(TOKEN + "\n")
        file.chmod(0o644)
        with pytest.raises(ConfigError, match="readable by every user; chmod 600"):
            load_token(PromiseApi(enabled=True, token_file=file))
        file.chmod(0o600)
        assert load_token(PromiseApi(enabled=True, token_file=file)) == Secret(TOKEN)
        file.write_text("short")
        with pytest.raises(ConfigError, match=r"promise\.api\.token_file: .* shorter than 16"):
            load_token(PromiseApi(enabled=True, token_file=file))
        with pytest.raises(ConfigError, match="cannot read"):
            load_token(PromiseApi(enabled=True, token_file=tmp_path / "gone"))


class Daemon:
    """The daemon's side of the API: the requests, answered as made."""

    def __init__(self) -> None:
        self.requests: list[PromiseRequest] = []

    async def promise(self, request: PromiseRequest) -> PromiseAnswer:
        self.requests.append(request)
        return PromiseAnswer(True, "promised", 3, 1_800_000_000.0, "support", "", "")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[PromiseApiServer, Daemon]]:
    file = tmp_path / "token"
    file.write_text(TOKEN)
    file.chmod(0o600)
    daemon = Daemon()
    server = PromiseApiServer.from_settings(PromiseApi(enabled=True, port=free_port(), token_file=file), daemon.promise)
    assert await server.start()
    yield server, daemon
    await server.close()


async def call(port: int, path: str, body: bytes, authorization: str | None) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = f"Authorization: {authorization}\r\n" if authorization is not None else ""
    writer.write(f"POST {path} HTTP/1.1\r\n{auth}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, answer = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(answer) if answer.startswith(b"{") else {}


class TestServer:
    """POST /promises with the token; made by "api"; never the token in the log."""

    async def test_promise_made_by_api(self, api: tuple[PromiseApiServer, Daemon]) -> None:
        """The answer names the promise; the queue's own promise has no agent."""
        server, daemon = api
        code, answer = await call(server.port, "/promises", b'{"number": "1", "in": "1m"}', f"Bearer {TOKEN}")
        assert code == 200
        assert answer == {
            "promise_id": 3,
            "due_at": 1_800_000_000.0,
            "queue": "support",
            "agent": "",
            "detail": "promised",
            "moved_to_opening": False,
        }
        assert [(r.by, r.source) for r in daemon.requests] == [("api", "api")]

    async def test_wrong_token_refused_unlogged(self, api: tuple[PromiseApiServer, Daemon]) -> None:
        """No token, a wrong one: 401, the daemon never asked, neither token in the log."""
        server, daemon = api
        body = b'{"number": "1", "in": "1m"}'
        with capture_logs() as logs:
            assert (await call(server.port, "/promises", body, None))[0] == 401
            assert (await call(server.port, "/promises", body, f"Bearer {TOKEN[:-1]}X"))[0] == 401
        assert daemon.requests == []
        assert [entry["event"] for entry in logs] == ["promise_api_unauthorized"] * 2
        assert TOKEN[:-1] not in str(logs)

    async def test_other_paths_and_methods(self, api: tuple[PromiseApiServer, Daemon]) -> None:
        """Nothing else is served: no status, no cancel; GET is 405 once authorized."""
        server, _ = api
        assert (await call(server.port, "/status", b"", f"Bearer {TOKEN}"))[0] == 404
        assert (await call(server.port, "/redials/1/cancel", b"", f"Bearer {TOKEN}"))[0] == 404
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"GET /promises HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 405")
        writer.close()

    async def test_port_held_stops_the_start(self, api: tuple[PromiseApiServer, Daemon]) -> None:
        """Whatever held the port would get the CRM's token: the daemon does not start without it."""
        server, daemon = api
        other = PromiseApiServer("127.0.0.1", server.port, Secret(TOKEN), daemon.promise)
        with pytest.raises(PortUnavailable, match="promise_api"):
            await other.start()
