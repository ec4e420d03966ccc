"""The application factory and its lifespan: store, event bus, every branch's runtime."""

from __future__ import annotations

import inspect
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import errors, openapi
from app.appointments.jobs import AppointmentJobs
from app.audit import AuditTrail, AuditWriter
from app.bus import EventBus
from app.db import models
from app.db.session import create_engine, is_sqlite
from app.db.store import Store
from app.deps import CredentialCache, Services
from app.hall import Halls
from app.heap import HeapFreezer
from app.hotpath import HotPath
from app.identity import provider_from_settings
from app.metrics import observe_request
from app.notify.adapters import adapter_from_settings
from app.notify.outbox import Sender
from app.overdue import OverdueWatch
from app.ratelimit import RateLimiter
from app.realtime import Hub
from app.routers import (
    appointments,
    audit,
    auth,
    branches,
    cases,
    counters,
    dashboard,
    devices,
    health,
    mp,
    notices,
    queue,
    ratings,
    reports,
    screens,
    tickets,
    ws,
)
from app.settings import Settings, get_settings

API = "/api/v1"


async def server_secret(store: Store, configured: str) -> str:
    """The token signing key: the configured one, else one generated once and kept in the store
    (so tokens survive restarts and every process of one store agrees)."""
    if configured:
        return configured
    async with store.sessions() as session, session.begin():
        row = await session.scalar(
            select(models.ServerSecret).where(models.ServerSecret.name == "jwt")
        )
        if row is None:
            row = models.ServerSecret(name="jwt", value=secrets.token_urlsafe(48))
            session.add(row)
        value: str = row.value
        return value


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        seen = 0
        too_large = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # The framework turns an exception here into its own 400, so flag it and
                    # answer 413 in place of whatever the app then says.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def limited_send(message: Message) -> None:
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send)

        await self.app(scope, limited_receive, limited_send)
        if too_large and not refused:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"The request body is larger than {self.limit} bytes."
        payload = ('{"error": "BodyTooLarge", "detail": "' + detail + '"}').encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class RequestMetrics:
    """Time every HTTP request by method, route template and status (``app.metrics``).

    A plain ASGI middleware: ``@app.middleware("http")`` would wrap each request in Starlette's
    ``BaseHTTPMiddleware``, a task group and memory streams per request, most of the cost of a
    trivial request. A request that raises before answering counts as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            observe_request(
                scope["method"],
                getattr(route, "path", "unmatched"),
                status,
                time.perf_counter() - started,
            )


# FastAPI 0.16x asks OpenTelemetry on every request whether anything listens (2.5% of the
# server's CPU at 64 calls in flight). Queuehall's figures are its Prometheus metrics
# (/metrics); switch FastAPI's own telemetry off where that version has it.
WITHOUT_OPENTELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], float] = time.time
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeouts = {
            "connect_timeout": settings.store_connect_timeout_seconds,
            "command_timeout": settings.store_command_timeout_seconds,
        }
        engine = create_engine(settings.database_url, **timeouts)
        # The branch writers get an engine of their own, so that a commit never waits for a
        # connection behind a burst of reads (on SQLite, sharing the read pool let 500
        # concurrent requests hold a commit for 20-30 s: tests/reliability/test_races.py).
        # On PostgreSQL it skips the pool's pre-ping; SQLite writes one transaction at a time
        # anyway, so its writers share one connection instead of polling SQLite's busy lock.
        writer = (
            create_engine(settings.database_url, pool_size=1, max_overflow=0)
            if is_sqlite(settings.database_url)
            else create_engine(settings.database_url, pool_pre_ping=False, **timeouts)
        )
        store = Store(engine, writer=writer)
        bus = EventBus()
        halls = Halls(store, bus, clock=clock, max_batch=settings.max_batch, heap=HeapFreezer())
        await halls.start()
        app.state.services = Services(
            settings=settings,
            secret=await server_secret(store, settings.secret_key),
            store=store,
            bus=bus,
            halls=halls,
            limiter=RateLimiter(),
            credentials=CredentialCache(store),
        )
        services = app.state.services
        services.audit = AuditWriter(store)
        services.audit.start()
        app.state.overdue = overdue = OverdueWatch(store, halls, clock)
        overdue.start()
        app.state.realtime = hub = Hub(settings, store, bus, halls, services.secret)
        await hub.start()
        app.state.identity = provider_from_settings(settings)
        sender = Sender(
            store,
            adapter_from_settings(settings),
            clock=clock,
            max_attempts=settings.notify_max_attempts,
            backoff_seconds=settings.notify_backoff_seconds,
        )
        services.appointments = jobs = AppointmentJobs(
            store,
            bus,
            halls,
            sender,
            clock=clock,
            tick_seconds=settings.appointments_tick_seconds,
            retention_booking_days=settings.retention_booking_days,
            retention_ticket_days=settings.retention_ticket_days,
        )
        await jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await overdue.stop()
            await hub.stop()
            await halls.stop()
            await services.audit.stop()
            await engine.dispose()
            await writer.dispose()

    app = FastAPI(
        title="Queuehall",
        version="0.1.0",
        description="Take-a-number and call-next server for service halls.",
        lifespan=lifespan,
        **WITHOUT_OPENTELEMETRY,
    )
    errors.install(app)
    appointments.install(app)
    app.add_middleware(HotPath)  # innermost: CORS headers and metrics apply to it as well
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["*"],
        allow_headers=["*"],
    )

    app.add_middleware(
        AuditTrail,
        writer=lambda: getattr(getattr(app.state, "services", None), "audit", None),
        clock=clock,
    )
    app.add_middleware(RequestMetrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    for router in (health.router, ws.router, screens.router):
        app.include_router(router)
    app.mount(screens.STATIC_PREFIX, screens.static_files(), name="screens-static")
    for router in (
        auth.router,
        branches.router,
        devices.router,
        tickets.router,
        counters.router,
        queue.router,
        ratings.router,
        cases.router,
        appointments.router,
        mp.router,
        reports.router,
        dashboard.router,
        notices.router,
        audit.router,
    ):
        app.include_router(router, prefix=API)
    openapi.install(app)
    return app
