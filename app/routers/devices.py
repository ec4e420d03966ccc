"""Devices: kiosks, lobby displays, counter terminals and evaluators hold a revocable token for
one branch and one kind, obtained with a one-time pairing code (never a staff password)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import StringConstraints
from sqlalchemy import select

from app.auth import (
    PAIRING_SECONDS,
    code_hash,
    device_claims,
    issue_token,
    new_pairing_code,
)
from app.db import models
from app.deps import MANAGERS, CurrentPrincipal, ServicesDep, authorize
from app.errors import Invalid, NotAuthenticated, NotFound
from app.openapi import RATE_LIMITED, REFUSED_CREDENTIAL
from app.routers.tickets import client_address
from app.schemas import MAX_ID, BranchPath, CounterNumber, ShortText, Strict

router = APIRouter(tags=["devices"])

DeviceId = Annotated[int, Path(ge=1, le=MAX_ID)]


class NewDevice(Strict):
    kind: Literal["kiosk", "display", "counter", "evaluator"]
    name: ShortText
    # The counter an evaluator stands at: it rates the tickets finished there.
    counter: CounterNumber | None = None


class Pairing(Strict):
    code: Annotated[str, StringConstraints(min_length=6, max_length=32, strip_whitespace=True)]


def device_view(device: models.Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "branch": device.branch_id,
        "kind": device.kind,
        "name": device.name,
        "counter": device.counter,
        "paired": device.paired_at is not None,
        "revoked": device.revoked_at is not None,
    }


@router.post("/branches/{branch}/devices", status_code=201, summary="Add a device: pairing code")
async def create_device(
    branch: BranchPath, body: NewDevice, services: ServicesDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Returns a one-time pairing code, valid for 10 minutes, to type on the device."""
    authorize(principal, branch, roles=MANAGERS)
    runtime = services.halls.get(branch)
    if body.kind == "evaluator":
        if body.counter is None:
            raise Invalid("An evaluator stands at one counter: give its number as counter.")
        if body.counter not in {c.number for c in runtime.engine.config.counters}:
            raise NotFound(f"Counter {body.counter} does not exist at this branch.")
    elif body.counter is not None:
        raise Invalid("Only an evaluator is bound to a counter.")
    code = new_pairing_code()
    now = services.halls.clock()
    device = models.Device(
        branch_id=branch,
        kind=body.kind,
        name=body.name,
        counter=body.counter,
        pairing_code_hash=code_hash(code),
        pairing_expires_at=now + PAIRING_SECONDS,
        created_at=now,
    )
    async with services.store.sessions() as session, session.begin():
        session.add(device)
    return {**device_view(device), "pairing_code": code, "expires_in": PAIRING_SECONDS}


@router.get("/branches/{branch}/devices", summary="Devices of a branch")
async def list_devices(
    branch: BranchPath, services: ServicesDep, principal: CurrentPrincipal
) -> list[Any]:
    authorize(principal, branch, roles=MANAGERS)
    services.halls.get(branch)
    async with services.store.sessions() as session:
        devices = (
            await session.scalars(
                select(models.Device)
                .where(models.Device.branch_id == branch)
                .order_by(models.Device.id)
            )
        ).all()
    return [device_view(d) for d in devices]


@router.delete(
    "/branches/{branch}/devices/{device_id}", status_code=204, summary="Revoke a device at once"
)
async def revoke_device(
    branch: BranchPath, device_id: DeviceId, services: ServicesDep, principal: CurrentPrincipal
) -> Response:
    authorize(principal, branch, roles=MANAGERS)
    async with services.store.sessions() as session, session.begin():
        device = await session.get(models.Device, device_id)
        if device is None or device.branch_id != branch:
            raise NotFound(f"Device {device_id} does not exist at this branch.")
        if device.revoked_at is None:
            device.revoked_at = services.halls.clock()
        device.pairing_code_hash = None
    services.credentials.forget("device", device_id)
    return Response(status_code=204)


@router.post(
    "/devices/pair",
    summary="Exchange a pairing code for a device token",
    responses={**RATE_LIMITED, **REFUSED_CREDENTIAL},
)
async def pair(body: Pairing, services: ServicesDep, request: Request) -> dict[str, Any]:
    await services.limiter.check("10/minute", "pair-ip", client_address(request))
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        device = await session.scalar(
            select(models.Device).where(models.Device.pairing_code_hash == code_hash(body.code))
        )
        valid = (
            device is not None
            and device.revoked_at is None
            and device.paired_at is None
            and (device.pairing_expires_at or 0) >= now
        )
        if device is not None:
            device.pairing_code_hash = None  # single use, even when expired
        if not valid or device is None:
            refused = True
        else:
            refused = False
            device.paired_at = now
    if refused or device is None:
        raise NotAuthenticated("This pairing code is unknown, used or expired; ask for a new one.")
    lifetime = services.settings.device_token_days * 86400
    token = issue_token(
        services.secret, device_claims(device.id, device.kind, device.branch_id), lifetime
    )
    services.credentials.forget("device", device.id)
    return {
        "device_token": token,
        "token_type": "bearer",
        "expires_in": lifetime,
        **device_view(device),
    }
