"""The kiosk: paired with a one-time code, shows the services with waiting counts, estimates and
materials, issues a (care) ticket and prints it; the printed ticket's QR code opens the
customer's ticket page."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, Hall, screenshot


def pair_kiosk(page: Page, hall: Hall, query: str = "") -> None:
    page.goto(f"/screens/kiosk/b1{query}")
    expect(page.locator("#pairing")).to_be_visible()
    page.fill("#pairing input", hall.server.pairing_code(hall.manager, "kiosk"))
    page.click("#pairing button[type=submit]")
    expect(page.locator("#pairing")).to_be_hidden()


def qr_texts(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_kiosk_issues_a_ticket_and_prints_a_qr_code_of_its_page(page: Page, hall: Hall) -> None:
    server = hall.server
    server.issue(hall.admin, "A")
    pair_kiosk(page, hall)
    service_a = page.locator('.service[data-service="A"]')
    expect(page.locator("#branch-name")).to_have_text("第一网点")
    expect(service_a).to_contain_text("个人业务")
    expect(service_a).to_contain_text("等候 1 人")
    expect(service_a).to_contain_text("需带材料：身份证、银行卡")
    expect(page.locator('.service[data-service="B"]')).to_contain_text("等候 0 人")
    # The hall's time (the branch is in Asia/Shanghai), whatever the kiosk's own time zone.
    hall_time = datetime.now(ZoneInfo("Asia/Shanghai"))
    minutes = {(hall_time + timedelta(minutes=m)).strftime("%H:%M") for m in (0, 1)}
    assert page.locator("#clock").text_content() in minutes
    screenshot(page, "kiosk-services")

    service_a.click()
    expect(page.locator("#issued")).to_be_visible()
    page.wait_for_function("() => window.__printed === 1")
    token = page.evaluate("document.body.dataset.ticketToken")
    ticket = server.call("GET", f"/tickets/{token}", expect=200)
    assert (ticket["number"], ticket["priority"], ticket["channel"]) == ("A002", "normal", "kiosk")
    screenshot(page, "kiosk-issued")

    page.emulate_media(media="print")
    printed = page.locator("#ticket")
    expect(printed).to_be_visible()
    expect(page.locator("#services")).to_be_hidden()
    for text in ("第一网点", "A 个人业务", "A002", "您前面还有 1 人", "取号时间"):
        expect(printed).to_contain_text(text)
    width = printed.bounding_box()
    assert width is not None
    assert 290 <= width["width"] <= 315
    png = printed.screenshot(path=str(ARTIFACTS / "kiosk-printed-ticket.png"))
    assert qr_texts(png) == [f"{server.url}/t/{token}"]

    # The phone that scans it opens the live ticket page.
    phone = page.context.new_page()
    phone.goto(qr_texts(png)[0])
    expect(phone.locator("#number")).to_have_text("A002")
    expect(phone.locator("#detail")).to_contain_text("您前面还有 1 人")


def test_a_care_ticket_on_a_58_mm_printer(page: Page, hall: Hall) -> None:
    hall.server.issue(hall.admin, "A")
    pair_kiosk(page, hall, "?paper=58")
    page.check("#care")
    page.locator('.service[data-service="A"]').click()
    page.wait_for_function("() => window.__printed === 1")
    expect(page.locator("#care")).not_to_be_checked()  # the next customer starts afresh
    page.emulate_media(media="print")
    # Care tickets have a head start over normal tickets taken less than 10 minutes earlier.
    expect(page.locator("#ticket")).to_contain_text("爱心优先")
    expect(page.locator("#ticket")).to_contain_text("您前面还有 0 人")
    box = page.locator("#ticket").bounding_box()
    assert box is not None
    assert 210 <= box["width"] <= 225
    png = page.locator("#ticket").screenshot(path=str(ARTIFACTS / "kiosk-printed-58mm.png"))
    token = page.evaluate("document.body.dataset.ticketToken")
    assert qr_texts(png) == [f"{hall.server.url}/t/{token}"]


def test_a_revoked_kiosk_asks_to_be_paired_again(page: Page, hall: Hall) -> None:
    pair_kiosk(page, hall)
    expect(page.locator('.service[data-service="A"]')).to_be_visible()
    devices = hall.server.call("GET", "/branches/b1/devices", hall.manager, 200)
    hall.server.call("DELETE", f"/branches/b1/devices/{devices[0]['id']}", hall.manager, 204)
    page.reload()
    expect(page.locator("#pairing")).to_be_visible()


def test_a_sold_out_service_is_greyed_and_a_refused_ticket_says_why(page: Page, hall: Hall) -> None:
    server = hall.server
    server.call(
        "PUT",
        "/branches/b1/services/A",
        hall.manager,
        200,
        json={"code": "A", "name": "个人业务", "daily_quota": 1},
    )
    server.issue(hall.admin, "A")
    server.call(
        "POST", "/branches/b1/services", hall.manager, 201, json={"code": "C", "name": "缴费"}
    )
    pair_kiosk(page, hall)
    expect(page.locator('.service[data-service="A"]')).to_be_disabled()
    expect(page.locator('.service[data-service="A"]')).to_contain_text("今日号已取完")

    server.call("DELETE", "/branches/b1/services/C", hall.manager, 204)
    page.locator('.service[data-service="C"]').click()  # the kiosk has not reloaded yet
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("取号失败")
    expect(page.locator("#issued")).to_be_hidden()
    assert page.evaluate("window.__printed") == 0
