"""The kiosk's "预约签到 / Check in": a booking code typed (or scanned) becomes an appointment
ticket, printed like any other; a wrong code is explained in the screen's language."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from .conftest import Hall, screenshot
from .test_kiosk import pair_kiosk


def booking_code_for_eleven(hall: Hall) -> str:
    """Pin the server's clock at 10:10 tomorrow (Shanghai) and book tomorrow's 11:00 slot."""
    server = hall.server
    zone = ZoneInfo("Asia/Shanghai")
    tomorrow = datetime.now(zone) + timedelta(days=1)
    morning = tomorrow.replace(hour=10, minute=10, second=0, microsecond=0)
    server.clock.skew = morning.timestamp() - time.time()
    # A command starts the new business day now (a full garbage collection of this long-lived
    # test process), not during the kiosk's check-in.
    server.counter(hall.clerk, 2, "open", expect=200)
    for weekday in range(7):
        server.call(
            "POST",
            "/branches/b1/slot-templates",
            hall.manager,
            201,
            json={
                "service": "A",
                "weekday": weekday,
                "start": "09:00",
                "end": "12:00",
                "slot_minutes": 60,
                "capacity": 3,
            },
        )
    slots = server.call(
        "GET",
        "/branches/b1/slots",
        hall.clerk,
        200,
        params={"service": "A", "day": morning.date().isoformat()},
    )
    slot = next(s for s in slots if s["start"] == "11:00")
    booking = server.call(
        "POST",
        "/branches/b1/bookings",
        hall.clerk,
        201,
        json={"slot": slot["id"], "phone": "13912345678", "name": "王五"},
    )
    code: str = booking["code"]
    return code


def test_a_booking_code_checks_in_at_the_kiosk_and_prints_its_ticket(
    page: Page, hall: Hall
) -> None:
    code = booking_code_for_eleven(hall)
    pair_kiosk(page, hall)
    expect(page.locator("#check-in-open")).to_have_text("预约签到")
    page.click("#check-in-open")
    expect(page.locator("#check-in")).to_be_visible()
    page.fill("#check-in-code", "ZZZZ2222")
    page.click("#check-in-submit")
    expect(page.locator("#check-in-message")).to_have_text("没有找到该预约，请核对预约码。")
    page.fill("#check-in-code", code.lower())
    page.click("#check-in-submit")
    expect(page.locator("#issued")).to_be_visible(timeout=15_000)
    expect(page.locator("#check-in")).to_be_hidden()
    page.wait_for_function("() => window.__printed === 1")
    token = page.evaluate("document.body.dataset.ticketToken")
    ticket = hall.server.call("GET", f"/tickets/{token}", expect=200)
    assert (ticket["number"], ticket["priority"]) == ("A001", "appointment")
    expect(page.locator("#preview")).to_contain_text("预约")
    screenshot(page, "kiosk-check-in")
    bookings = hall.server.call("GET", "/branches/b1/bookings", hall.clerk, 200)
    assert [(b["code"], b["state"]) for b in bookings] == [(code, "checked_in")]


def test_the_check_in_dialog_speaks_english_after_the_switch(page: Page, hall: Hall) -> None:
    booking_code_for_eleven(hall)
    pair_kiosk(page, hall)
    page.click("[data-lang-switch]")
    expect(page.locator("#check-in-open")).to_have_text("Check in")
    page.click("#check-in-open")
    page.fill("#check-in-code", "ZZZZ2222")
    page.click("#check-in-submit")
    expect(page.locator("#check-in-message")).to_have_text(
        "No booking has this code; please check it."
    )
