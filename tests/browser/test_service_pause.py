"""暂停取号 on the screens: the pause's automatic notice reaches the lobby display's scrolling
line at once and leaves it on resume; the kiosk greys the paused service out and does not
offer it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import Hall, screenshot
from .test_display import pair_display
from .test_kiosk import pair_kiosk


def test_the_pause_notice_appears_live_on_the_display_and_goes_on_resume(
    page: Page, hall: Hall
) -> None:
    server = hall.server
    pair_display(page, hall)
    notice = page.locator("#notice")
    expect(notice).to_contain_text("请留意屏幕")  # the default line
    server.call(
        "POST",
        "/branches/b1/services/A/pause",
        hall.manager,
        200,
        json={"reason": "系统升级", "reason_en": "system upgrade"},
    )
    expect(notice).to_have_text("A 业务（个人业务）暂停取号：系统升级。")
    page.click("[data-lang-switch]")
    expect(notice).to_have_text("Service A (Personal) is paused: system upgrade.")
    page.click("[data-lang-switch]")
    server.call("POST", "/branches/b1/services/A/resume", hall.manager, 200)
    expect(notice).to_contain_text("请留意屏幕")


def test_the_kiosk_does_not_offer_a_paused_service(page: Page, hall: Hall) -> None:
    server = hall.server
    server.call(
        "POST", "/branches/b1/services/A/pause", hall.manager, 200, json={"reason": "系统升级"}
    )
    pair_kiosk(page, hall)
    service_a = page.locator('.service[data-service="A"]')
    expect(service_a).to_contain_text("暂停取号 / Paused · 系统升级")
    expect(service_a).to_be_disabled()
    expect(page.locator('.service[data-service="B"]')).to_be_enabled()
    screenshot(page, "kiosk-paused-service")
    service_a.click(force=True)  # a tap on the greyed button does nothing
    expect(page.locator("#issued")).to_be_hidden()
    queue = server.call("GET", "/branches/b1/queue", hall.manager, 200)
    assert [s["issued_today"] for s in queue["services"]] == [0, 0]
