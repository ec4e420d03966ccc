"""Staff sign-in (OAuth2 password form), the slow-down after failures, and which bearer tokens
are refused: disabled, outdated, tampered, expired, or signed any other way than ours."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from app import deps
from app.auth import (
    AUDIENCE,
    InvalidToken,
    Role,
    decode_token,
    issue_token,
    login_delay,
    staff_claims,
)
from app.deps import VerifiedTokens

from .conftest import SECRET, Api, Headers, assert_error, make_branch, password_of


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def claims_of(headers: Headers) -> dict[str, Any]:
    token = headers["Authorization"].removeprefix("Bearer ")
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def admin_and_clerk(api: Api) -> tuple[Headers, Headers]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return admin, await api.user("clerk", Role.CLERK, "b1")


async def clerk_id(api: Api, admin: Headers) -> int:
    staff = (await api.get("/branches/b1/staff", admin)).json()
    return next(int(u["id"]) for u in staff if u["username"] == "clerk")


async def can_read_the_queue(api: Api, headers: Headers) -> bool:
    response = await api.get("/branches/b1/queue", headers)
    if response.status_code == 401:
        assert_error(response, 401, "NotAuthenticated")
        return False
    assert response.status_code == 200, response.text
    return True


# --------------------------------------------------------------------------------------------
# Signing in


async def test_signing_in_returns_a_bearer_token_naming_role_and_branch(api: Api) -> None:
    await api.user("clerk", Role.CLERK, None)
    response = await api.sign_in("clerk", password_of("clerk"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["role"] == "clerk"
    assert body["expires_in"] == api.settings.access_token_minutes * 60
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["typ"] == "staff"
    assert claims["role"] == "clerk"


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(api: Api) -> None:
    await api.user("clerk", Role.CLERK, None)
    wrong = await api.sign_in("clerk", "not-the-password")
    unknown = await api.sign_in("nobody", "not-the-password")
    assert_error(wrong, 401, "NotAuthenticated")
    assert_error(unknown, 401, "NotAuthenticated")
    assert wrong.json() == unknown.json()


async def test_signing_in_needs_the_form_fields(api: Api) -> None:
    assert_error(await api.post("/auth/token", data={"username": "clerk"}), 422, "Invalid")
    as_json = await api.post("/auth/token", json={"username": "clerk", "password": "x"})
    assert_error(as_json, 422, "Invalid")


async def test_a_username_with_a_nul_character_is_just_unknown(api: Api) -> None:
    assert_error(await api.sign_in("ro\x00ot", "whatever-password"), 401, "NotAuthenticated")


async def test_repeated_failures_slow_the_account_down_with_429_and_retry_after(api: Api) -> None:
    await api.user("clerk", Role.CLERK, None)
    threshold = api.settings.login_attempts_before_delay
    for _ in range(threshold):
        assert_error(await api.sign_in("clerk", "guess"), 401)

    slowed = await api.sign_in("clerk", password_of("clerk"))  # even the right password waits
    assert_error(slowed, 429, "TooManyRequests")
    retry_after = int(slowed.headers["Retry-After"])
    assert 1 <= retry_after <= login_delay(threshold, threshold) + 1

    api.clock.advance(retry_after)
    assert_error(await api.sign_in("clerk", "guess"), 401)  # one more failure: a longer wait
    longer = await api.sign_in("clerk", "guess")
    assert_error(longer, 429)
    assert int(longer.headers["Retry-After"]) > retry_after

    api.clock.advance(int(longer.headers["Retry-After"]))
    assert (await api.sign_in("clerk", password_of("clerk"))).status_code == 200
    assert_error(await api.sign_in("clerk", "guess"), 401)  # the count started again
    assert_error(await api.sign_in("clerk", "guess"), 401)


async def test_one_accounts_failures_do_not_slow_another_account(api: Api) -> None:
    await api.user("clerk", Role.CLERK, None)
    await api.user("other", Role.CLERK, None)
    for _ in range(api.settings.login_attempts_before_delay + 1):
        await api.sign_in("clerk", "guess")
    assert (await api.sign_in("other", password_of("other"))).status_code == 200


# --------------------------------------------------------------------------------------------
# Tokens that stop working


async def test_disabling_a_user_refuses_the_old_token_and_the_password(api: Api) -> None:
    admin, clerk = await admin_and_clerk(api)
    assert await can_read_the_queue(api, clerk)
    user = await clerk_id(api, admin)
    disabled = await api.put(f"/branches/b1/staff/{user}", admin, json={"active": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    assert not await can_read_the_queue(api, clerk)
    assert_error(await api.sign_in("clerk", password_of("clerk")), 401)


async def test_enabling_a_user_again_does_not_revive_old_tokens(api: Api) -> None:
    admin, clerk = await admin_and_clerk(api)
    user = await clerk_id(api, admin)
    await api.put(f"/branches/b1/staff/{user}", admin, json={"active": False})
    await api.put(f"/branches/b1/staff/{user}", admin, json={"active": True})
    assert not await can_read_the_queue(api, clerk)
    fresh = await api.login("clerk", password_of("clerk"))
    assert await can_read_the_queue(api, fresh)


async def test_a_password_change_signs_the_user_out_everywhere(api: Api) -> None:
    admin, clerk = await admin_and_clerk(api)
    user = await clerk_id(api, admin)
    changed = await api.put(
        f"/branches/b1/staff/{user}", admin, json={"password": "a-new-long-password"}
    )
    assert changed.status_code == 200, changed.text
    assert not await can_read_the_queue(api, clerk)
    assert_error(await api.sign_in("clerk", password_of("clerk")), 401)
    assert await can_read_the_queue(api, await api.login("clerk", "a-new-long-password"))


async def test_a_removed_user_is_refused_at_once(api: Api) -> None:
    admin, clerk = await admin_and_clerk(api)
    user = await clerk_id(api, admin)
    assert (await api.delete(f"/branches/b1/staff/{user}", admin)).status_code == 204
    assert not await can_read_the_queue(api, clerk)


async def test_a_role_change_applies_to_the_next_request(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("boss", Role.MANAGER, "b1")
    assert (await api.get("/branches/b1/staff", manager)).status_code == 200
    staff = (await api.get("/branches/b1/staff", admin)).json()
    boss = next(u["id"] for u in staff if u["username"] == "boss")
    await api.put(f"/branches/b1/staff/{boss}", admin, json={"role": "clerk"})
    assert_error(await api.get("/branches/b1/staff", manager), 403, "Forbidden")


# --------------------------------------------------------------------------------------------
# Tokens that never worked


ANOTHER_KEY = "another-key-" * 6


def forged(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def valid_claims(headers: Headers, **changes: Any) -> dict[str, Any]:
    return {**claims_of(headers), **changes}


async def test_a_well_formed_token_of_our_own_is_accepted(api: Api) -> None:
    """The control for the refusals below: re-signing the same claims with our key works."""
    _, clerk = await admin_and_clerk(api)
    assert await can_read_the_queue(api, bearer(forged(valid_claims(clerk))))


async def test_a_tampered_token_is_refused(api: Api) -> None:
    _, clerk = await admin_and_clerk(api)
    token = clerk["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    other_payload = forged(valid_claims(clerk, role="admin")).split(".")[1]
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{header}.{other_payload}.{signature}", f"{header}.{payload}.{flipped}"):
        assert not await can_read_the_queue(api, bearer(bad))


async def test_an_expired_token_is_refused(api: Api) -> None:
    _, clerk = await admin_and_clerk(api)
    now = int(time.time())
    expired = forged(valid_claims(clerk, iat=now - 7200, exp=now - 3600))
    assert not await can_read_the_queue(api, bearer(expired))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_tokens_signed_any_other_way_are_refused(api: Api) -> None:
    _, clerk = await admin_and_clerk(api)
    claims = valid_claims(clerk)
    unsigned = jwt.encode(claims, None, algorithm="none")
    others = {
        "alg none": unsigned,
        "alg none, signature kept": unsigned + "x",
        "HS512 with another key": forged(claims, ANOTHER_KEY, "HS512"),
        "HS512 with our key": forged(claims, SECRET, "HS512"),
        "HS256 with another key": forged(claims, ANOTHER_KEY),
    }
    for name, token in others.items():
        assert not await can_read_the_queue(api, bearer(token)), name


async def test_tokens_for_another_audience_or_issuer_or_of_no_known_type_are_refused(
    api: Api,
) -> None:
    _, clerk = await admin_and_clerk(api)
    others = {
        "audience": valid_claims(clerk, aud="someone-else"),
        "issuer": valid_claims(clerk, iss="someone-else"),
        "type": valid_claims(clerk, typ="refresh"),
        "subject": valid_claims(clerk, sub="not-a-number"),
    }
    no_expiry = valid_claims(clerk)
    del no_expiry["exp"]
    others["no expiry"] = no_expiry
    for name, claims in others.items():
        assert not await can_read_the_queue(api, bearer(forged(claims))), name


async def test_a_missing_or_malformed_authorization_header_is_refused(api: Api) -> None:
    await admin_and_clerk(api)
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic cm9vdDpwYXNzd29yZA=="},
    ):
        response = await api.get("/branches/b1/queue", headers)
        assert_error(response, 401, "NotAuthenticated")


# --------------------------------------------------------------------------------------------
# The verified-token cache


class CountingDecoder:
    """``decode_token`` that counts its calls, and can be told to refuse what it sees."""

    def __init__(self) -> None:
        self.calls = 0
        self.refuse = False

    def __call__(self, secret: str, token: str) -> dict[str, Any]:
        self.calls += 1
        if self.refuse:
            raise InvalidToken("expired")
        return decode_token(secret, token)


def staff_token(lifetime: float = 3600) -> str:
    return issue_token(SECRET, staff_claims(7, "clerk", "b1", 1), lifetime)


def test_a_token_is_verified_once_then_trusted_until_its_expiry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoder = CountingDecoder()
    monkeypatch.setattr(deps, "decode_token", decoder)
    now = time.time()
    tokens = VerifiedTokens(clock=lambda: now)
    token = staff_token(lifetime=60)
    assert tokens.claims(SECRET, token)["sub"] == "7"
    assert tokens.claims(SECRET, token)["sub"] == "7"
    assert decoder.calls == 1
    now += 61  # past exp: verified again, and the verifier now says expired
    decoder.refuse = True
    with pytest.raises(InvalidToken):
        tokens.claims(SECRET, token)
    assert decoder.calls == 2
    assert len(tokens) == 0


def test_a_token_is_trusted_only_for_the_key_it_was_verified_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deps, "decode_token", CountingDecoder())
    tokens = VerifiedTokens()
    token = staff_token()
    tokens.claims(SECRET, token)
    monkeypatch.setattr(deps, "decode_token", decode_token)
    with pytest.raises(InvalidToken):
        tokens.claims(ANOTHER_KEY, token)


def test_the_cache_forgets_the_least_recently_used_token_beyond_its_capacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoder = CountingDecoder()
    monkeypatch.setattr(deps, "decode_token", decoder)
    tokens = VerifiedTokens(capacity=2)
    first, second, third = staff_token(), staff_token(), staff_token()
    tokens.claims(SECRET, first)
    tokens.claims(SECRET, second)
    tokens.claims(SECRET, first)  # now second is the least recently used
    tokens.claims(SECRET, third)
    assert len(tokens) == 2
    assert decoder.calls == 3
    tokens.claims(SECRET, first)
    assert decoder.calls == 3
    tokens.claims(SECRET, second)
    assert decoder.calls == 4


def test_a_refused_token_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = CountingDecoder()
    decoder.refuse = True
    monkeypatch.setattr(deps, "decode_token", decoder)
    tokens = VerifiedTokens()
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.claims(SECRET, staff_token())
    assert decoder.calls == 2
    assert len(tokens) == 0


async def test_a_token_seen_before_is_refused_at_once_when_its_user_is_disabled(api: Api) -> None:
    admin, clerk = await admin_and_clerk(api)
    for _ in range(2):
        assert await can_read_the_queue(api, clerk)
    user = await clerk_id(api, admin)
    await api.put(f"/branches/b1/staff/{user}", admin, json={"active": False})
    assert not await can_read_the_queue(api, clerk)
