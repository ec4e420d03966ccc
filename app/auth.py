"""Staff sign-in and device credentials.

* Passwords are hashed with Argon2id (argon2-cffi). Repeated failures slow an account down:
  after ``login_attempts_before_delay`` failures each further attempt must wait twice as long as
  the previous one (capped at 15 minutes), answered 429 with ``Retry-After``.
* Access tokens are JWTs (HS256, audience ``queuehall``) carrying the role and branch. A staff
  token names the user's ``token_version``: disabling a user or changing the password bumps it
  and every older token stops working. A device token names the device; revoking the device
  refuses its tokens at once.
* Devices are paired with a one-time code (10 minutes, single use) that a manager creates; the
  code is stored only as a hash.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

AUDIENCE = "queuehall"
ISSUER = "queuehall"
ALGORITHM = "HS256"
PAIRING_SECONDS = 600
MAX_LOGIN_DELAY = 900.0

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("queuehall-no-such-user")


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    CLERK = "clerk"


class DeviceKind(StrEnum):
    KIOSK = "kiosk"
    DISPLAY = "display"
    COUNTER = "counter"
    EVALUATOR = "evaluator"


class InvalidToken(Exception):
    """The token is missing, expired, tampered with or not for Queuehall."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user or a paired device."""

    kind: str  # "staff" or "device"
    id: int
    branch_id: str | None  # None: an admin of every branch
    role: Role | None = None
    device_kind: DeviceKind | None = None
    name: str = ""
    counter: int | None = None  # the counter an evaluator device stands at

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def label(self) -> str:
        if self.is_staff:
            return f"{self.role} {self.name}"
        return f"{self.device_kind} device {self.name}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login_delay(failed_logins: int, threshold: int) -> float:
    """Seconds an account must wait after its last failure before the next attempt."""
    if failed_logins < threshold:
        return 0.0
    return float(min(MAX_LOGIN_DELAY, 2.0 ** (failed_logins - threshold + 1)))


def issue_token(secret: str, claims: dict[str, Any], lifetime_seconds: float) -> str:
    now = int(time.time())
    payload = {
        **claims,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + int(lifetime_seconds),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def staff_claims(user_id: int, role: str, branch_id: str | None, version: int) -> dict[str, Any]:
    return {"typ": "staff", "sub": str(user_id), "role": role, "branch": branch_id, "ver": version}


def device_claims(device_id: int, kind: str, branch_id: str) -> dict[str, Any]:
    return {"typ": "device", "sub": str(device_id), "kind": kind, "branch": branch_id}


def decode_token(secret: str, token: str) -> dict[str, Any]:
    """The verified claims, or :class:`InvalidToken`. Only HS256 is accepted ("none" and other
    algorithms are refused), and the audience and issuer must be Queuehall's."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from None
    if claims.get("typ") not in ("staff", "device"):
        raise InvalidToken("unknown token type")
    return claims


def new_pairing_code() -> str:
    """Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L)."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()
