"""Promises over HTTP: the JSON both ``POST /promises`` routes take and give, and the CRM's API.

The control socket (:mod:`redial.service.control`) and the CRM's loopback TCP port take the
same body, ``{"number", "in" | "at", "agent", "queue", "note", "call"}``, and give the same
answers: 200 with the promise, 400 naming what is wrong (bad JSON, an unknown field, a
promise the daemon refused), 503 when the daemon did not answer in time. Only who made it
differs: the kernel's user on the socket, ``api`` on the port.

The port is off unless ``promise.api.enabled``, listens on loopback only, and takes a
request only with ``Authorization: Bearer <token>``, the token in ``promise.api.token_file``
(compared in constant time). Neither the token nor the header is ever logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable

import structlog

from redial.config.load import api_token
from redial.config.promise_settings import PromiseApi
from redial.config.settings import Secret
from redial.core.promises import PromiseAnswer, PromiseRequest
from redial.service.loopback import LoopbackService
from redial.service.status import NOT_FOUND, REQUEST_TIMEOUT, Request, Response, serve_request

# The JSON fields a request may carry ("in" is PromiseRequest.within).
FIELDS = ("number", "in", "at", "agent", "queue", "note", "call")
# Shorter tokens are refused: a CRM's token must not be guessable.

MakePromise = Callable[[PromiseRequest], Awaitable[PromiseAnswer]]
_JSON = "application/json"


class BadPromise(ValueError):
    """A request body that is no promise: the message names what is wrong."""


def parse_promise(body: bytes, by: str, source: str) -> PromiseRequest:
    """The request in ``body`` (JSON), made by ``by``; :class:`BadPromise` naming what is wrong.

    Only the shape is checked here (an object of known string fields, a number, exactly one
    of ``in`` and ``at``); the daemon checks the rest and answers in words.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPromise(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadPromise("the body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadPromise(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    for name, value in data.items():
        if not isinstance(value, str):
            raise BadPromise(f"{name}: expected a string, got {json.dumps(value)[:40]}")
    fields: dict[str, str] = {name: value.strip() for name, value in data.items()}
    if not fields.get("number"):
        raise BadPromise("number: the customer's number is missing")
    if bool(fields.get("in")) == bool(fields.get("at")):
        raise BadPromise('give exactly one of "in" (such as "30m") and "at" (such as "14:30")')
    return PromiseRequest(
        number=fields["number"],
        within=fields.get("in", ""),
        at=fields.get("at", ""),
        agent=fields.get("agent", ""),
        queue=fields.get("queue", ""),
        note=fields.get("note", ""),
        call=fields.get("call", ""),
        by=by,
        source=source,
    )


def answer_body(answer: PromiseAnswer) -> dict[str, object]:
    """A promise made, as the routes answer it (the owner's member name, else interface; "" for the queue)."""
    return {
        "promise_id": answer.promise_id,
        "due_at": answer.due_at,
        "queue": answer.queue,
        "agent": answer.agent_name or answer.agent_interface,
        "detail": answer.detail,
        "moved_to_opening": answer.moved,
    }


def _json(status: int, data: dict[str, object]) -> Response:
    return status, _JSON, json.dumps(data, sort_keys=True).encode() + b"\n"


async def promise_response(
    make: MakePromise, body: bytes, by: str, source: str, log: structlog.typing.FilteringBoundLogger
) -> Response:
    """Parse ``body``, ask the daemon (within REQUEST_TIMEOUT), answer as the routes do."""
    try:
        request = parse_promise(body, by, source)
    except BadPromise as exc:
        return _json(400, {"error": str(exc)})
    try:
        answer = await asyncio.wait_for(make(request), REQUEST_TIMEOUT)
    except TimeoutError:
        text = "the daemon did not answer in time; the promise may still be made: see redial status"
        return _json(503, {"error": text})
    except Exception as exc:
        log.exception("promise_request_failed", by=by, source=source)
        return _json(500, {"error": f"the promise failed: {exc}"})
    # The daemon logs each promise made (promise_made) and refused (promise_refused) once.
    if not answer.ok:
        return _json(400, {"error": answer.detail})
    return _json(200, answer_body(answer))


def load_token(api: PromiseApi) -> Secret:
    """The bearer token, read again as the API starts (the file may have changed since the configuration was read)."""
    return api_token(api)


def authorized(headers: dict[str, str], token: Secret) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token`` (constant-time compare)."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.reveal().encode())


class PromiseApiServer(LoopbackService):
    """``POST /promises`` on a loopback port for a CRM, with a bearer token; made ``by`` "api".

    Required once enabled: whatever held the port instead would receive the CRM's token.
    """

    name = "promise_api"
    required = True

    def __init__(
        self,
        host: str,
        port: int,
        token: Secret,
        promise: MakePromise,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        super().__init__(host, port, log)
        self._token, self._promise = token, promise

    @classmethod
    def from_settings(
        cls, api: PromiseApi, promise: MakePromise, log: structlog.typing.FilteringBoundLogger | None = None
    ) -> PromiseApiServer:
        """The server of ``promise.api``, its token read now (:class:`ConfigError` if it cannot be)."""
        return cls(api.host, api.port, load_token(api), promise, log)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_request(reader, writer, self._route, self._log)

    async def _route(self, request: Request) -> Response:
        if request.path != "/promises":
            return NOT_FOUND
        if not authorized(request.headers, self._token):
            # Never the header itself: it may be a token one character off.
            self._log.warning("promise_api_unauthorized", has_header="authorization" in request.headers)
            return 401, _JSON, b'{"error": "send Authorization: Bearer <the token in promise.api.token_file>"}\n'
        if request.method != "POST":
            return 405, "text/plain", b"use POST\n"
        return await promise_response(self._promise, request.body, "api", "api", self._log)
