"""The counter's evaluator screen: lights up with the rating buttons when the clerk finishes a
ticket at its counter, and goes back to idle after the rating or its timeout."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from .conftest import Hall, screenshot
from .test_rating import served


def open_evaluator(context: BrowserContext, hall: Hall, counter: int = 1) -> Page:
    code = hall.server.pairing_code(hall.manager, "evaluator", counter=counter)
    page = context.new_page()
    page.goto(f"/screens/evaluator/b1/{counter}")
    page.fill("#pair-code", code)
    page.click("#pair-submit")
    expect(page.locator("#idle")).to_be_visible()
    return page


def test_the_evaluator_lights_up_when_the_clerk_finishes_and_goes_idle_after_rating(
    context: BrowserContext, hall: Hall
) -> None:
    page = open_evaluator(context, hall)
    expect(page.locator("#idle")).to_contain_text("欢迎")
    expect(page.locator("#prompt")).to_be_hidden()
    ticket = served(hall)
    expect(page.locator("#prompt")).to_be_visible()
    expect(page.locator("#prompt-ticket")).to_have_text(str(ticket["number"]))
    expect(page.locator("#form .rate-level")).to_have_text(["非常满意", "满意", "一般", "不满意"])
    screenshot(page, "evaluator-prompt")
    page.locator("#form [data-level=average]").click()
    page.locator("#form [data-reason=slow]").click()
    page.locator("#form .rate-send").click()
    expect(page.locator("#form .rate-done")).to_have_text("感谢您的评价！")
    expect(page.locator("#idle")).to_be_visible()
    stored = hall.server.call("GET", f"/tickets/{ticket['token']}/rating", expect=200)["rating"]
    assert (stored["level"], stored["reason"], stored["channel"]) == (
        "average",
        "slow",
        "evaluator",
    )
    assert stored["counter"] == 1
    # The next finished ticket lights it up again.
    second = served(hall)
    expect(page.locator("#prompt-ticket")).to_have_text(str(second["number"]))


def test_the_evaluator_ignores_other_counters_and_goes_idle_unrated_after_its_timeout(
    context: BrowserContext, hall: Hall
) -> None:
    page = open_evaluator(context, hall)
    page.evaluate("window.__promptSeconds = 2")
    served(hall, counter=2)
    served(hall, counter=1)
    expect(page.locator("#prompt")).to_be_visible()
    expect(page.locator("#idle")).to_be_visible(timeout=15_000)
    rating = hall.server.call("GET", "/branches/b1/counters/1/rating", hall.manager, 200)
    assert rating["rating"] is None
