"""The customer's ticket page on a phone: follows its ticket live from waiting (position,
estimate, almost your turn) to called ("轮到您了：请到 1号窗口", with vibration), cancels, and
offers the rating once the service is finished."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect

from .conftest import Hall, Server, new_context, screenshot


@pytest.fixture
def phone(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    yield from new_context(
        browser,
        server,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def open_ticket(phone: BrowserContext, token: str) -> Page:
    page = phone.new_page()
    page.goto(f"/t/{token}")
    page.wait_for_function("() => document.body.dataset.connection === 'online'")
    return page


def test_the_page_follows_its_ticket_from_waiting_to_called(
    phone: BrowserContext, hall: Hall
) -> None:
    server = hall.server
    for _ in range(4):
        server.issue(hall.admin, "A")
    mine = server.issue(hall.admin, "A")
    page = open_ticket(phone, mine["token"])
    expect(page.locator("#number")).to_have_text("A005")
    expect(page.locator("#service")).to_have_text("A 个人业务")
    expect(page.locator("#headline")).to_have_text("排队中")
    expect(page.locator("#detail")).to_contain_text("您前面还有 4 人")
    expect(page.locator("#detail")).to_contain_text("暂无开放的窗口，等候时间待定")
    expect(page.locator("#detail")).not_to_contain_text("快到您了")
    screenshot(page, "ticket-waiting")

    server.counter(hall.clerk, 1, "open", expect=200)
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(page.locator("#detail")).to_contain_text("您前面还有 3 人")
    expect(page.locator("#detail")).to_contain_text("预计等候约")
    expect(page.locator("#detail")).to_contain_text("快到您了，请留意叫号")
    for _ in range(3):
        server.counter(hall.clerk, 1, "finish", expect=200)
        server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(page.locator("#detail")).to_contain_text("您前面还有 0 人")
    assert page.evaluate("window.__vibrations") == []

    server.counter(hall.clerk, 1, "finish", expect=200)
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(page.locator("#headline")).to_have_text("轮到您了：请到 1号窗口")
    expect(page.locator("#ticket")).to_have_attribute("data-state", "called")
    page.wait_for_function("() => window.__vibrations.length === 1")
    screenshot(page, "ticket-called")

    server.counter(hall.clerk, 1, "recall", expect=200)
    expect(page.locator("#headline")).to_have_text("再次呼叫：请尽快到 1号窗口")
    page.wait_for_function("() => window.__vibrations.length === 2")

    server.counter(hall.clerk, 1, "start", expect=200)
    expect(page.locator("#headline")).to_have_text("正在为您办理")
    expect(page.locator("#cancel-area")).to_be_hidden()
    server.counter(hall.clerk, 1, "finish", expect=200)
    expect(page.locator("#headline")).to_have_text("办理完成，感谢您的耐心等候")
    expect(page.locator("#rating")).to_be_visible()
    screenshot(page, "ticket-finished")


def test_the_customer_cancels_from_the_page(phone: BrowserContext, hall: Hall) -> None:
    server = hall.server
    mine = server.issue(hall.admin, "B")
    page = open_ticket(phone, mine["token"])
    page.click("#cancel")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#cancel-no")
    expect(page.locator("#headline")).to_have_text("排队中")
    page.click("#cancel")
    page.click("#cancel-yes")
    expect(page.locator("#headline")).to_have_text("号票已取消")
    expect(page.locator("#cancel-area")).to_be_hidden()
    assert server.call("GET", f"/tickets/{mine['token']}", expect=200)["state"] == "cancelled"


def test_an_unknown_ticket_says_so(phone: BrowserContext, hall: Hall) -> None:
    page = phone.new_page()
    page.goto("/t/" + "x" * 32)
    expect(page.locator("#headline")).to_have_text("找不到这张号票，可能是以前的号票")


def test_the_page_switches_to_english(phone: BrowserContext, hall: Hall) -> None:
    mine = hall.server.issue(hall.admin, "A")
    page = open_ticket(phone, mine["token"])
    expect(page.locator("#number")).to_have_text(mine["number"])
    page.click("[data-lang-switch]")
    expect(page.locator("#headline")).to_have_text("Waiting")
    expect(page.locator("#detail")).to_contain_text("0 people ahead of you")


def test_a_ticket_left_over_at_the_end_of_the_day_says_it_expired(
    phone: BrowserContext, hall: Hall
) -> None:
    mine = hall.server.issue(hall.admin, "A")
    page = phone.new_page()
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(f"/t/{mine['token']}")
    expect(page.locator("#headline")).to_have_text("排队中")
    page.wait_for_function("() => document.body.dataset.connection === 'online'")
    hall.server.clock.skew += 86_400
    hall.server.issue(hall.admin, "A")  # the first command of the next day expires yesterday's
    expect(page.locator("#headline")).to_have_text("号票已过期", timeout=15_000)
    expect(page.locator("#cancel-area")).to_be_hidden()
    page.wait_for_timeout(3000)  # the server closed the socket for good: no reconnecting
    expect(page.locator("#offline")).to_be_hidden()
    assert len(sockets) == 1
