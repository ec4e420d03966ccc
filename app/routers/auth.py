"""Staff sign-in: OAuth2 password flow, returning a bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from app.auth import issue_token, login_delay, staff_claims, verify_password
from app.db import models
from app.deps import ServicesDep
from app.errors import NotAuthenticated, TooManyRequests

router = APIRouter(tags=["auth"])


@router.post("/auth/token", summary="Sign in (OAuth2 password form)")
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], services: ServicesDep
) -> dict[str, Any]:
    settings = services.settings
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
