"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.deps import ServicesDep
from app.metrics import render

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The store answers and every branch's engine is loaded")
async def readyz(services: ServicesDep) -> Any:
    try:
        await services.store.ping()
    except Exception:
        return JSONResponse(
            {"error": "StoreUnavailable", "detail": "The store does not answer."}, 503
        )
    return {"status": "ready", "branches": len(services.halls)}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep, request: Request) -> Response:
    hub = getattr(request.app.state, "realtime", None)
    return Response(render(services.halls, hub), media_type=CONTENT_TYPE_LATEST)
