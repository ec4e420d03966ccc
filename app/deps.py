"""FastAPI dependencies: the application's services, the caller, and access checks."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.audit import AuditWriter
from app.auth import DeviceKind, InvalidToken, Principal, Role, decode_token
from app.bus import EventBus
from app.db import models
from app.db.store import Store
from app.errors import Forbidden, NotAuthenticated
from app.hall import Halls
from app.ratelimit import RateLimiter
from app.settings import Settings

CREDENTIAL_CACHE_SECONDS = 2.0
VERIFIED_TOKENS = 10_000


@dataclass
class Services:
    """What the app holds for its lifetime (built in the lifespan)."""

    settings: Settings
    secret: str
    store: Store
    bus: EventBus
    halls: Halls
    limiter: RateLimiter
    credentials: CredentialCache
    tokens: VerifiedTokens = field(default_factory=lambda: VerifiedTokens())
    # Background work of appointments (app.appointments.jobs.AppointmentJobs), when running.
    appointments: Any = None
    audit: AuditWriter | None = None


class VerifiedTokens:
    """Claims of bearer tokens whose signature and claims were verified, so that a token seen
    again skips the signature check until its ``exp``. Bounded: the least recently used of
    ``capacity`` tokens is forgotten first. Only the token's own verdict is kept; whether its
    user or device is still allowed is asked on every request (:func:`principal_from_token`)."""

    def __init__(
        self, capacity: int = VERIFIED_TOKENS, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.capacity = capacity
        self.clock = clock
        # (secret, token) -> (expiry, claims)
        self._claims: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    def claims(self, secret: str, token: str) -> dict[str, Any]:
        """The verified claims of ``token`` signed with ``secret``, or :class:`InvalidToken`."""
        key = (secret, token)
        cached = self._claims.get(key)
        if cached is not None:
            if self.clock() < cached[0]:
                self._claims.move_to_end(key)
                return cached[1]
            del self._claims[key]
        claims = decode_token(secret, token)
        self._claims[key] = (float(claims["exp"]), claims)
        if len(self._claims) > self.capacity:
            self._claims.popitem(last=False)
        return claims


class CredentialCache:
    """Whether a staff user or device is still allowed, checked in the store at most every
    ``CREDENTIAL_CACHE_SECONDS`` per credential; changes made in this process apply at once.

    One lookup per credential at a time: when an entry expires under load, the requests that
    find it expired wait for the same lookup instead of each taking a connection (64 clerks'
    requests in flight opened 64 sessions and overflowed the pool every few seconds)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[str, int], tuple[float, object]] = {}
        self._loading: dict[tuple[str, int], asyncio.Task[object]] = {}

    def forget(self, kind: str, ident: int) -> None:
        self._seen.pop((kind, ident), None)
        # A lookup in flight may have read the row before the change: it stores nothing.
        self._loading.pop((kind, ident), None)

    async def staff(self, user_id: int) -> models.StaffUser | None:
        user: models.StaffUser | None = await self._get("staff", models.StaffUser, user_id)
        return user

    async def device(self, device_id: int) -> models.Device | None:
        device: models.Device | None = await self._get("device", models.Device, device_id)
        return device

    async def _get(self, kind: str, model: Any, ident: int) -> Any:
        key = (kind, ident)
        cached = self._seen.get(key)
        if cached is not None and time.monotonic() - cached[0] < CREDENTIAL_CACHE_SECONDS:
            return cached[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, model, ident))
            self._loading[key] = loading
        # Shielded: a caller that goes away does not cancel the others' lookup.
        return await asyncio.shield(loading)

    async def _load(self, key: tuple[str, int], model: Any, ident: int) -> object:
        me = asyncio.current_task()
        try:
            async with self.store.sessions() as session:
                row: object = await session.get(model, ident)
            if self._loading.get(key) is me:  # not forgotten meanwhile
                self._seen[key] = (time.monotonic(), row)
            return row
        finally:
            if self._loading.get(key) is me:
                del self._loading[key]


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

bearer = HTTPBearer(auto_error=False, description="A staff access token or a device token.")


async def principal_from_token(services: Services, token: str) -> Principal:
    """Verify a bearer token and that its user or device is still allowed."""
    try:
        claims = services.tokens.claims(services.secret, token)
        ident = int(claims["sub"])
    except (InvalidToken, ValueError, KeyError):
        raise NotAuthenticated("The access token is invalid or has expired.") from None
    if claims["typ"] == "staff":
        user = await services.credentials.staff(ident)
        if user is None or not user.active or user.token_version != claims.get("ver"):
            raise NotAuthenticated("This sign-in is no longer valid; please sign in again.")
        return Principal(
            "staff", user.id, user.branch_id, role=Role(user.role), name=user.display_name
        )
    device = await services.credentials.device(ident)
    if device is None or device.revoked_at is not None or device.paired_at is None:
        raise NotAuthenticated("This device has been revoked; pair it again.")
    return Principal(
        "device",
        device.id,
        device.branch_id,
        device_kind=DeviceKind(device.kind),
        name=device.name,
        counter=device.counter,
    )


async def optional_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    principal = await principal_from_token(services, credentials.credentials)
    request.state.principal = principal  # for the audit log (app.audit)
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated(headers={"WWW-Authenticate": "Bearer"})
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

ALL_STAFF = frozenset(Role)
MANAGERS = frozenset({Role.ADMIN, Role.MANAGER})


def authorize(
    principal: Principal,
    branch_id: str | None,
    *,
    roles: frozenset[Role] = frozenset(),
    devices: frozenset[DeviceKind] = frozenset(),
) -> None:
    """Allow staff with one of ``roles`` and devices of one of ``devices`` kinds, each only for
    their own branch (an admin without a branch reaches every branch)."""
    if principal.is_staff:
        if principal.role not in roles:
            raise Forbidden(f"{with_article(principal.role)} may not do this.")
    elif principal.device_kind not in devices:
        raise Forbidden(f"{with_article(principal.device_kind)} device may not do this.")
    if branch_id is not None and principal.branch_id not in (None, branch_id):
        raise Forbidden("You may act only for your own branch.")
    if branch_id is None and principal.branch_id is not None and roles == {Role.ADMIN}:
        raise Forbidden("Only an administrator of every branch may do this.")


def with_article(word: str | None) -> str:
    """The word with its indefinite article, capitalised: "An admin", "A clerk"."""
    return f"{'An' if str(word)[:1] in ('a', 'e', 'i', 'o', 'u') else 'A'} {word}"
