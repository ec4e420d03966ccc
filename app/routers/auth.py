"""Staff sign-in: OAuth2 password flow, returning a bearer token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app.auth import issue_token, login_delay, staff_claims, verify_password
from app.db import models
from app.deps import ServicesDep
from app.errors import NotAuthenticated, TooManyRequests
from app.openapi import RATE_LIMITED, REFUSED_CREDENTIAL
from app.routers.tickets import client_address

router = APIRouter(tags=["auth"])


class SignIn(BaseModel):
    """The OAuth2 password form (RFC 6749, section 4.3), every field bounded, no other field.
    A username longer than any username is simply unknown (401), like one with a NUL."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["password"] | None = None
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024)
    scope: str = Field("", max_length=1000)
    client_id: str | None = Field(None, max_length=200)
    client_secret: str | None = Field(None, max_length=200)


@router.post(
    "/auth/token",
    summary="Sign in (OAuth2 password form)",
    responses={**RATE_LIMITED, **REFUSED_CREDENTIAL},
)
async def token(
    form: Annotated[SignIn, Form()], services: ServicesDep, request: Request
) -> dict[str, Any]:
    settings = services.settings
    address = client_address(request)
    limit = settings.rate_limit_login_failures
    # One address trying many accounts (password spraying) is held at its failure limit before
    # any password is checked, so that even a right guess then answers 429.
    await services.limiter.refuse_if_spent(limit, "login-ip", address)
    username = form.username.strip()[:64]
    now = services.halls.clock()
    async with services.store.sessions() as session, session.begin():
        user = None
        if "\x00" not in username:  # no username holds NUL, and PostgreSQL refuses it in a query
            user = await session.scalar(
                select(models.StaffUser).where(models.StaffUser.username == username)
            )
        if user is not None and user.last_failed_at is not None:
            wait = login_delay(user.failed_logins, settings.login_attempts_before_delay)
            remaining = user.last_failed_at + wait - now
            if remaining > 0:
                raise TooManyRequests(
                    f"Too many failed sign-ins; try again in {int(remaining) + 1} seconds.",
                    headers={"Retry-After": str(int(remaining) + 1)},
                )
        valid = verify_password(user.password_hash if user else None, form.password)
        refused = user is None or not valid or not user.active
        if refused:
            if user is not None:  # committed with the transaction, then refused below
                user.failed_logins += 1
                user.last_failed_at = now
        else:
            assert user is not None
            user.failed_logins = 0
            user.last_failed_at = None
    if refused or user is None:
        await services.limiter.count(limit, "login-ip", address)
        raise NotAuthenticated("Wrong username or password, or the account is disabled.")
    lifetime = settings.access_token_minutes * 60
    access = issue_token(
        services.secret,
        staff_claims(user.id, user.role, user.branch_id, user.token_version),
        lifetime,
    )
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": lifetime,
        "role": user.role,
        "branch": user.branch_id,
        "display_name": user.display_name,
    }
