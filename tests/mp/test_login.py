"""Logging in from the mini-program: the dev provider, WeChat code2Session against the fake
server (its errors and timeouts), and what a customer session may reach."""

from __future__ import annotations

from app.auth import Role
from app.db import models
from tests.api.conftest import Api, assert_error

from .conftest import login
from .fake_wechat import FakeWeChat


async def test_the_dev_provider_logs_a_customer_in_and_out_of_staff_routes(api: Api) -> None:
    response = await api.post("/mp/login", json={"code": "alice"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    customer = {"Authorization": f"Bearer {body['token']}"}
    me = await api.get("/mp/me", customer)
    assert me.json() == {"id": body["customer"]["id"], "name": None, "phone": None}
    again = await api.post("/mp/login", json={"code": "alice"})
    assert again.json()["customer"]["id"] == body["customer"]["id"]
    updated = await api.put("/mp/me", customer, json={"phone": "13812345678", "name": "李四"})
    assert updated.json()["phone"] == "13812345678"  # the owner sees their own data whole
    # A customer session is no staff token, and a staff token is no customer session.
    assert_error(await api.get("/branches", customer), 401)
    admin = await api.user("root", Role.ADMIN, None)
    assert_error(await api.get("/mp/me", admin), 401)
    assert_error(await api.get("/mp/me"), 401)
    assert_error(await api.post("/mp/login", json={"code": "bad code!"}), 401, "LoginRefused")


async def test_wechat_login_exchanges_the_code_for_the_openid(mp: Api, wechat: FakeWeChat) -> None:
    first = await mp.post("/mp/login", json={"code": "c1"})
    assert first.status_code == 200, first.text
    async with mp.store.sessions() as session:
        row = await session.get(models.Customer, first.json()["customer"]["id"])
        assert row is not None
        assert row.openid == "o-c1"


async def test_a_code_wechat_refuses_is_401_and_wechat_trouble_is_503(
    mp: Api, wechat: FakeWeChat
) -> None:
    wechat.login_mode = "bad"
    refused = await mp.post("/mp/login", json={"code": "c1"}, headers={"Accept-Language": "en"})
    assert_error(refused, 401, "LoginRefused")
    assert "40029" in refused.json()["detail"]
    for mode, words in (("busy", "-1"), ("http500", "HTTP 502"), ("slow", "did not answer")):
        wechat.login_mode = mode
        response = await mp.post(
            "/mp/login", json={"code": "c1"}, headers={"Accept-Language": "en"}
        )
        assert_error(response, 503, "IdentityUnavailable")
        assert words in response.json()["detail"], (mode, response.json())
    chinese = await mp.post("/mp/login", json={"code": "c1"})
    assert "暂时不可用" in chinese.json()["detail"]


async def test_an_unreachable_wechat_is_503(mp: Api, wechat: FakeWeChat) -> None:
    mp.app.state.identity.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = await mp.post("/mp/login", json={"code": "c1"}, headers={"Accept-Language": "en"})
    assert_error(response, 503, "IdentityUnavailable")
    assert "cannot be reached" in response.json()["detail"]


async def test_a_customer_token_reaches_only_the_mini_program(mp: Api) -> None:
    customer = await login(mp, "c1")
    assert (await mp.get("/mp/tickets", customer)).status_code == 200
    assert_error(await mp.get("/mp/tickets", {"Authorization": "Bearer nonsense"}), 401)
