"""Rating a service on the customer's phone (/t/{token}) once the ticket is finished."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

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


def served(hall: Hall, counter: int = 1) -> dict[str, object]:
    server = hall.server
    ticket = server.issue(hall.admin, "A")
    if server.call("GET", f"/branches/b1/counters/{counter}", hall.clerk, 200)["state"] != "open":
        server.counter(hall.clerk, counter, "open", expect=200)
    server.counter(hall.clerk, counter, "call-next", expect=200)
    server.counter(hall.clerk, counter, "finish", expect=200)
    return ticket


def test_the_customer_rates_on_the_phone_and_a_complaint_opens_a_case(
    phone: BrowserContext, hall: Hall
) -> None:
    ticket = served(hall)
    page = phone.new_page()
    page.goto(f"/t/{ticket['token']}")
    expect(page.locator("#headline")).to_have_text("办理完成，感谢您的耐心等候")
    rating = page.locator("#rating")
    expect(rating.locator("h2")).to_have_text("请您对本次服务进行评价")
    expect(rating.locator(".rate-level")).to_have_text(["非常满意", "满意", "一般", "不满意"])
    rating.locator("[data-level=dissatisfied]").click()
    expect(rating.locator(".rate-reasons")).to_be_visible()
    expect(rating.locator(".rate-send")).to_be_disabled()
    rating.locator("[data-reason=long_wait]").click()
    rating.locator(".rate-text").fill("等了四十分钟")
    screenshot(page, "ticket-rating-reason")
    rating.locator(".rate-send").click()
    expect(rating.locator(".rate-done")).to_have_text("感谢您的评价！")
    stored = hall.server.call("GET", f"/tickets/{ticket['token']}/rating", expect=200)["rating"]
    assert (stored["level"], stored["reason"], stored["text"]) == (
        "dissatisfied",
        "long_wait",
        "等了四十分钟",
    )
    assert stored["channel"] == "mobile"
    cases = hall.server.call("GET", "/branches/b1/cases", hall.manager, 200)
    assert [c["rating"] for c in cases] == [stored["id"]]
    page.reload()
    expect(page.locator("#rating .rate-done")).to_have_text("您的评价：不满意")


def test_a_satisfied_customer_rates_with_one_touch_in_english(
    phone: BrowserContext, hall: Hall
) -> None:
    ticket = served(hall)
    page = phone.new_page()
    page.goto(f"/t/{ticket['token']}")
    expect(page.locator("#rating .rate-level")).to_have_count(4)
    page.click("[data-lang-switch]")
    expect(page.locator("#rating .rate-level").first).to_have_text("Very satisfied")
    page.locator("#rating [data-level=very_satisfied]").click()
    expect(page.locator("#rating .rate-done")).to_have_text("Thank you for your rating!")
    stored = hall.server.call("GET", f"/tickets/{ticket['token']}/rating", expect=200)["rating"]
    assert stored["level"] == "very_satisfied"
