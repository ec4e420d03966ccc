"""Who a mini-program customer is: identity providers and customer session tokens.

``POST /api/v1/mp/login {"code"}`` hands the code the mini-program got from ``wx.login`` to an
:class:`IdentityProvider`, which answers with a stable ``openid``:

* :class:`WeChatIdentity` calls WeChat's ``code2Session``
  (``GET {base}/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code``) with
  httpx, the base URL and app credentials from the settings, and a timeout. An unreachable or
  slow WeChat, or a WeChat error other than a bad code, is :class:`IdentityUnavailable` (503);
  a code WeChat refuses (invalid, used, expired) is :class:`LoginRefused` (401).
* :class:`DevIdentity`, for local use, takes the code itself as the customer's name.

A customer session token is a JWT signed with the server's key, like staff tokens, but with the
audience ``queuehall-customer`` and the type ``customer``: a staff or device token is never a
customer's, nor the other way round (``app.auth.decode_token`` checks the audience too).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, Protocol

import httpx
import jwt

from app.appointments.rules import IdentityUnavailable, LoginRefused
from app.auth import ALGORITHM, ISSUER, InvalidToken

CUSTOMER_AUDIENCE = "queuehall-customer"
# code2Session errors that mean "this code is no good", not "WeChat is in trouble".
BAD_CODE_ERRORS = frozenset({40029, 40163, 40226})
DEV_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IdentityProvider(Protocol):
    async def openid_for(self, code: str) -> str:
        """The customer's stable id for this login code; raises LoginRefused or
        IdentityUnavailable."""
        ...


class DevIdentity:
    """For local development: the code is the customer ("dev:<code>"). Never for production."""

    async def openid_for(self, code: str) -> str:
        if not DEV_CODE.match(code):
            raise LoginRefused("A dev login code is 1 to 64 letters, digits, '-' or '_'.")
        return f"dev:{code}"


class WeChatIdentity:
    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret
        self.timeout = timeout
        self.transport = transport

    async def openid_for(self, code: str) -> str:
        if not self.app_id or not self.app_secret:
            raise IdentityUnavailable(
                "WeChat login is not configured (QUEUEHALL_WECHAT_APP_ID and _APP_SECRET)."
            )
        params = {
            "appid": self.app_id,
            "secret": self.app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.get(f"{self.base_url}/sns/jscode2session", params=params)
        except httpx.TimeoutException:
            raise IdentityUnavailable(
                f"WeChat did not answer within {self.timeout:g} s; please try again."
            ) from None
        except httpx.HTTPError as error:
            raise IdentityUnavailable(
                f"WeChat cannot be reached ({type(error).__name__}); please try again."
            ) from None
        if response.status_code != 200:
            raise IdentityUnavailable(
                f"WeChat answered HTTP {response.status_code}; please try again."
            )
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            raise IdentityUnavailable("WeChat answered something that is not JSON.") from None
        errcode = int(payload.get("errcode") or 0)
        if errcode in BAD_CODE_ERRORS:
            raise LoginRefused(f"WeChat refused the login code ({errcode}); log in again.")
        if errcode != 0:
            raise IdentityUnavailable(
                f"WeChat refused the request ({errcode}: {payload.get('errmsg', '')})."
            )
        openid = payload.get("openid")
        if not isinstance(openid, str) or not openid or len(openid) > 64:
            raise IdentityUnavailable("WeChat answered without an openid.")
        return openid


def provider_from_settings(settings: Any) -> IdentityProvider:
    if settings.mp_identity_provider == "wechat":
        return WeChatIdentity(
            settings.wechat_api_base,
            settings.wechat_app_id,
            settings.wechat_app_secret,
            timeout=settings.wechat_timeout_seconds,
        )
    if settings.mp_identity_provider == "dev":
        return DevIdentity()
    raise ValueError(
        f"QUEUEHALL_MP_IDENTITY_PROVIDER is {settings.mp_identity_provider!r}; "
        "use 'dev' or 'wechat'."
    )


def issue_customer_token(secret: str, customer_id: int, lifetime_seconds: float) -> str:
    now = int(time.time())
    payload = {
        "typ": "customer",
        "sub": str(customer_id),
        "iss": ISSUER,
        "aud": CUSTOMER_AUDIENCE,
        "iat": now,
        "exp": now + int(lifetime_seconds),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def customer_id_of(secret: str, token: str) -> int:
    """The customer a session token names, or :class:`InvalidToken`."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=CUSTOMER_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        if claims.get("typ") != "customer":
            raise InvalidToken("not a customer token")
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, KeyError) as error:
        raise InvalidToken(str(error)) from None
