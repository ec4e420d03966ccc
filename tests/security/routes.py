"""Every route the app serves, walked from the app as built (so that routes added by any router
are seen): used by the access matrix and the OpenAPI checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, Route, WebSocketRoute


def flat_routes(app: FastAPI) -> Iterator[tuple[Any, str]]:
    """Every route of the app with its full path. FastAPI >= 0.16x keeps an included router as
    one entry of ``app.routes``; its public ``iter_route_contexts`` flattens them."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        for route in app.routes:
            yield route, route.path  # type: ignore[attr-defined]
        return
    for context in iterate(app.routes):
        yield context.original_route, context.path


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, WebSockets and mounts included."""
    served = set()
    for route, path in flat_routes(app):
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            served.add(("WEBSOCKET", path))
        elif isinstance(route, Mount):
            served.add(("MOUNT", path))
        elif isinstance(route, APIRoute | Route):
            served |= {(m, path) for m in route.methods or () if m != "HEAD"}
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return served
