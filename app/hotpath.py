"""A lighter path for the hot commands: taking a ticket, and a counter's ``next``, ``finish`` and
``call-next``.

Through FastAPI, about 40% of the server's CPU per request went to routing (every included
router is tried in turn), dependency solving and the framework's wrappers (py-spy, durable issue
at 64 in flight; docs/performance.md). This ASGI middleware sits inside the CORS and metrics
middlewares and answers those four ``POST`` routes itself, with the same code behind them: the
request is parsed as FastAPI would (bearer token, JSON body validated by the same Pydantic
model), then handed to :func:`app.routers.tickets.issue` or
:func:`app.routers.counters.hot_counter_command`, which the FastAPI routes call too. Errors go
to the application's own exception handlers, so replies, statuses and headers are the same.

Anything unusual is left to FastAPI, unchanged: a body that does not validate (so the 422 is
FastAPI's own), a content type other than JSON, a counter number that is not a plain 1 to 9999,
an over-long ``Idempotency-Key``, a body cut short. The routes stay declared in the routers, so
the OpenAPI document does not change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import Services, principal_from_token
from app.errors import NotAuthenticated
from app.routers import counters, tickets
from app.schemas import Finish, IssueTicket

ISSUE = re.compile(r"^/api/v1/branches/([^/]+)/tickets$")
COUNTER = re.compile(
    r"^/api/v1/branches/([^/]+)/counters/([1-9][0-9]{0,3})/(next|finish|call-next)$"
)
MAX_IDEMPOTENCY_KEY = 128


class _Fallback(Exception):
    """The request is not one the hot path answers exactly as FastAPI would: let FastAPI."""


def _route(router: Any, path: str) -> Any:
    for route in router.routes:
        if getattr(route, "path", None) == path and "POST" in getattr(route, "methods", ()):
            return route
    raise LookupError(path)


class HotPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The routes FastAPI would have matched: the metrics middleware labels by their template.
        self.issue_route = _route(tickets.router, "/branches/{branch}/tickets")
        self.counter_routes = {
            name: _route(counters.router, f"{counters.router.prefix}/{name}")
            for name in counters.HOT_COUNTER_COMMANDS
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        issue = ISSUE.match(path) if path.endswith("/tickets") else None
        counter = None if issue else COUNTER.match(path)
        if issue is None and counter is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        try:
            authorization, content_type, key = _headers(scope)
            raw = await _read_body(receive, messages)
            if issue is not None:
                body: Any = _parse(raw, content_type, IssueTicket, required=True)
                scope["route"] = self.issue_route
                handle: Callable[[Services, Any], Awaitable[Any]] = _issue(
                    issue.group(1), body, scope, key
                )
            else:
                assert counter is not None
                branch, number, name = counter.group(1), int(counter.group(2)), counter.group(3)
                body = None if name == "call-next" else _parse(raw, content_type, Finish)
                scope["route"] = self.counter_routes[name]
                handle = _counter(branch, number, name, body, key)
        except _Fallback:
            scope.pop("route", None)
            await self.app(scope, _replay(messages, receive), send)
            return
        request = Request(scope, receive)
        services: Services = scope["app"].state.services
        try:
            principal = None
            if authorization is not None:
                principal = await principal_from_token(services, authorization)
                request.state.principal = principal  # for the audit log (app.audit), as deps do
            response = await handle(services, principal)
        except Exception as error:
            handler = _handler_for(scope["app"], error)
            if handler is None:
                raise  # as FastAPI: the server-error middleware answers 500
            response = await handler(request, error)
        await response(scope, receive, send)


def _headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """The bearer credentials (as ``HTTPBearer(auto_error=False)`` reads them), the content
    type and the idempotency key."""
    authorization = content_type = key = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            authorization = credentials if scheme.lower() == "bearer" and credentials else ""
        elif name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"idempotency-key":
            if key is not None or len(value) > MAX_IDEMPOTENCY_KEY:
                raise _Fallback()
            key = value.decode("latin-1")
    return authorization or None, content_type, key


async def _read_body(receive: Receive, messages: list[Message]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            raise _Fallback()  # a disconnect, or the body limit's refusal: FastAPI's way
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _parse(raw: bytes, content_type: str | None, model: Any, *, required: bool = False) -> Any:
    if not raw:
        if required:
            raise _Fallback()
        return None
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _Fallback()
    try:
        data = json.loads(raw)
        if data is None and not required:
            return None
        return model.model_validate(data)
    except (ValueError, ValidationError, RecursionError):
        raise _Fallback() from None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _issue(
    branch: str, body: IssueTicket, scope: Scope, key: str | None
) -> Callable[[Services, Any], Awaitable[Any]]:
    client = scope.get("client")
    address = client[0] if client else "unknown"

    async def handle(services: Services, principal: Any) -> Any:
        return await tickets.issue(services, principal, branch, body, address, key)

    return handle


def _counter(
    branch: str, number: int, name: str, body: Finish | None, key: str | None
) -> Callable[[Services, Any], Awaitable[Any]]:
    async def handle(services: Services, principal: Any) -> Any:
        if principal is None:
            raise NotAuthenticated(headers={"WWW-Authenticate": "Bearer"})
        return await counters.hot_counter_command(
            services, principal, branch, number, name, body, key
        )

    return handle


def _handler_for(app: Any, error: Exception) -> Callable[..., Awaitable[Any]] | None:
    """The application's handler for ``error``, as Starlette's exception middleware finds it
    (the catch-all ``Exception`` handler belongs to the server-error middleware: not here)."""
    handlers = app.exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            handler: Callable[..., Awaitable[Any]] = handlers[kind]
            return handler
    return None
