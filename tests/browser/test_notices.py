"""A manager's notice reaches the lobby display's scrolling line at once (over its socket), in
the display's language, and leaves it when its end time passes, with no reload."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from .conftest import Hall, screenshot
from .test_display import pair_display


def test_a_notice_appears_live_and_goes_at_its_end(page: Page, hall: Hall) -> None:
    server = hall.server
    pair_display(page, hall)
    notice = page.locator("#notice")
    expect(notice).to_contain_text("请留意屏幕")  # the default line
    server.call(
        "POST",
        "/branches/b1/notices",
        hall.manager,
        201,
        json={"text": "今日15:00起暂停对公业务", "text_en": "Business services pause at 15:00"},
    )
    expect(notice).to_have_text("今日15:00起暂停对公业务")
    screenshot(page, "display-notice")
    page.click("[data-lang-switch]")
    expect(notice).to_have_text("Business services pause at 15:00")
    page.click("[data-lang-switch]")
    ends = time.time() + server.clock.skew + 4
    server.call(
        "POST",
        "/branches/b1/notices",
        hall.manager,
        201,
        json={"text": "短暂公告", "ends_at": ends},
    )
    expect(notice).to_have_text("今日15:00起暂停对公业务　　短暂公告")
    # Ends on its own: the display re-checks the window every few seconds.
    expect(notice).to_have_text("今日15:00起暂停对公业务", timeout=20_000)
