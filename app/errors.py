"""One place that maps every error to an HTTP status and the ``{"error", "detail"}`` body.

Domain errors (``app.queue_engine.errors``) know no HTTP; runtime, auth and request errors are
mapped here too. A read that cannot reach the store (a refused or dropped connection, a server
still starting) is a 503 ``StoreUnavailable`` with ``Retry-After``, as a command that cannot be
committed is. Unexpected exceptions become a 500 with no internals in the body, and are
logged: none is expected, and the API tests fail on any.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import ratings
from app.hall import (
    IdempotencyInFlight,
    IdempotencyMismatch,
    RuntimeFailure,
    StoreUnavailable,
    UnknownBranch,
)
from app.queue_engine import errors as domain

WS_TRY_AGAIN_LATER = 1013  # docs/realtime.md, close codes

log = logging.getLogger("queuehall.errors")
# What FastAPI says of a body it cannot decode (not UTF-8): said again as a sentence here.
FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"


class ApiError(Exception):
    """Base of errors raised by the HTTP layer itself."""

    status = 400

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        self.headers = headers
        super().__init__(self.detail)


class NotAuthenticated(ApiError):
    """Sign in first: a valid bearer token is required."""

    status = 401

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        # Every 401 names the scheme to authenticate with (RFC 9110, section 15.5.2).
        super().__init__(detail, headers or {"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    """Your role or branch does not allow this."""

    status = 403


class NotFound(ApiError):
    """Not found."""

    status = 404


class AlreadyExists(ApiError):
    """It already exists."""

    status = 409


class Invalid(ApiError):
    """The request is invalid."""

    status = 422


class TooManyRequests(ApiError):
    """Too many requests; please wait and try again."""

    status = 429


class BodyTooLarge(ApiError):
    """The request body is too large."""

    status = 413


DOMAIN_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (domain.ConfigError, 422),
    (domain.InvalidCommand, 422),
    (domain.NotFound, 404),
    (domain.Conflict, 409),
    (IdempotencyMismatch, 422),
    (IdempotencyInFlight, 409),
    (UnknownBranch, 404),
    (ratings.UnknownLevel, 422),
    (ratings.ReasonRequired, 422),
    (ratings.UnknownReason, 422),
    (ratings.UnknownAssignee, 422),
    (ratings.NothingToRate, 404),
    (ratings.TicketNotServed, 409),
    (ratings.AlreadyRated, 409),
    (ratings.RatingWindowClosed, 409),
    (ratings.NotLastFinished, 409),
    (ratings.CaseClosed, 409),
)


def body(error: str, detail: str) -> dict[str, str]:
    return {"error": error, "detail": detail}


def _describe(error: Exception, request: Request | None = None) -> str:
    if isinstance(error, domain.ServicePaused):  # said to customers: Chinese unless asked
        accepted = request.headers.get("accept-language", "") if request else ""
        return error.en if accepted.strip().lower().startswith("en") else error.zh
    detail = getattr(error, "detail", None)
    if isinstance(detail, str) and detail:
        return detail
    text = str(error).strip("'\"")
    return text or (type(error).__doc__ or type(error).__name__).strip()


def validation_sentence(errors: list[Any]) -> str:
    """A readable sentence from pydantic's error list: where, and what is wrong."""
    parts = []
    # An unknown field is named first: it is usually the one mistake behind the others.
    errors = sorted(errors, key=lambda error: error.get("type") != "extra_forbidden")
    for error in errors[:5]:
        if error.get("type") == "json_invalid":
            reason = str(error.get("ctx", {}).get("error", "")) or "it cannot be parsed"
            position = error.get("loc", ("body", 0))[-1]
            parts.append(f"The body is not valid JSON: {reason} at character {position}")
            continue
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        message = str(error.get("msg", "is invalid"))
        parts.append(f"{location}: {message}" if location else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more + "."


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            body(type(error).__name__, error.detail), error.status, headers=error.headers
        )

    @app.exception_handler(RuntimeFailure)
    async def runtime_failure(_: Request, error: RuntimeFailure) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse(body(type(error).__name__, error.detail), error.status, headers=headers)

    for error_class, status in DOMAIN_STATUS:

        async def handler(request: Request, error: Exception, status: int = status) -> JSONResponse:
            return JSONResponse(body(type(error).__name__, _describe(error, request)), status)

        app.add_exception_handler(error_class, handler)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(body("Invalid", validation_sentence(list(error.errors()))), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        names = {
            400: "BadRequest",
            401: "NotAuthenticated",
            404: "NotFound",
            405: "MethodNotAllowed",
            413: "BodyTooLarge",
        }
        name = names.get(error.status_code, "HTTPError")
        detail = str(error.detail)
        if error.status_code == 400 and detail == FASTAPI_UNREADABLE_BODY:
            detail = "The body cannot be read: it is not UTF-8 text of its declared media type."
        return JSONResponse(
            body(name, detail),
            error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return JSONResponse(body("InternalError", "Something went wrong on the server."), 500)

    async def store_unreachable(request: Any, error: Exception) -> Any:
        # ``request`` is a Request, or a WebSocket when a socket's handler raised.
        # Reads outside the hall runtime (credential checks, the event log, configuration)
        # meet an outage as a driver error or, while connecting, as a bare ConnectionError; a
        # silent network as a statement or connect timeout, or no pooled connection in time.
        if isinstance(error, IntegrityError):  # a refusal, not an outage
            return await unexpected(request, error)
        log.warning("the store did not answer: %r", error)
        if isinstance(request, WebSocket):  # a socket gets a close code, not a response
            with contextlib.suppress(Exception):  # already closed
                await request.close(WS_TRY_AGAIN_LATER, "The store is unavailable; reconnect.")
            return None
        unavailable = StoreUnavailable()
        return JSONResponse(
            body(type(unavailable).__name__, unavailable.detail),
            unavailable.status,
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(DBAPIError, store_unreachable)
    app.add_exception_handler(ConnectionError, store_unreachable)
    app.add_exception_handler(TimeoutError, store_unreachable)
    app.add_exception_handler(PoolTimeout, store_unreachable)
