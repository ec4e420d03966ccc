"""The lobby display: shows a call within a second of the call-next request, hands the Chinese
sentence to speech synthesis twice per call and recall (after the chime, one announcement after
the other), does not speak replayed calls older than 30 s, and keeps its board while offline."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import Hall, screenshot

CALL_SECONDS = 1.0


def pair_display(page: Page, hall: Hall, query: str = "") -> None:
    page.goto(f"/screens/display/b1{query}")
    expect(page.locator("#pairing")).to_be_visible()
    page.fill("#pairing input", hall.server.pairing_code(hall.manager, "display"))
    page.click("#pairing button[type=submit]")
    expect(page.locator("#pairing")).to_be_hidden()
    wait_online(page)


def wait_online(page: Page) -> None:
    expect(page.locator("body")).not_to_have_class("offline")
    page.wait_for_function("() => document.body.dataset.connection === 'online'")


def spoken(page: Page) -> list[dict[str, Any]]:
    utterances: list[dict[str, Any]] = page.evaluate("window.__spoken")
    return utterances


def spoken_texts(page: Page) -> list[str]:
    return [u["text"] for u in spoken(page)]


def wait_spoken(page: Page, count: int) -> None:
    page.wait_for_function(f"() => window.__spoken.length >= {count}", timeout=15_000)


def latest(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#latest-sentence")


def test_a_call_shows_within_a_second_and_is_spoken_twice_as_are_recalls(
    page: Page, hall: Hall
) -> None:
    server = hall.server
    server.issue(hall.admin, "A")
    server.issue(hall.admin, "A")
    server.counter(hall.clerk, 1, "open", expect=200)
    pair_display(page, hall)
    expect(page.locator("#branch-name")).to_have_text("第一网点")
    expect(page.locator('#waiting .svc[data-service="A"]')).to_contain_text("等候 2 人")

    started = time.monotonic()
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(latest(page)).to_have_attribute(
        "data-sentence", "请 A001 号 到 1号窗口", timeout=CALL_SECONDS * 1000
    )
    assert time.monotonic() - started <= CALL_SECONDS
    expect(latest(page)).to_have_text("请 A001 号 到 1号窗口")
    expect(page.locator("#recent-calls li").first).to_contain_text("A001")
    expect(page.locator('#waiting .svc[data-service="A"]')).to_contain_text("等候 1 人")
    wait_spoken(page, 2)
    screenshot(page, "display-call")

    server.counter(hall.clerk, 1, "recall", expect=200)
    expect(page.locator("#recall-tag")).to_be_visible()
    wait_spoken(page, 4)
    server.counter(hall.clerk, 1, "finish", expect=200)
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(latest(page)).to_have_attribute("data-sentence", "请 A002 号 到 1号窗口")
    wait_spoken(page, 6)
    page.wait_for_timeout(1500)  # nothing more comes
    assert spoken_texts(page) == ["请 A001 号 到 1号窗口"] * 4 + ["请 A002 号 到 1号窗口"] * 2
    assert {u["lang"] for u in spoken(page)} == {"zh-CN"}
    starts = [u["at"] for u in spoken(page)]
    assert starts == sorted(starts)  # one after the other, never two at once


def test_a_second_language_follows_the_first_each_time(page: Page, hall: Hall) -> None:
    server = hall.server
    server.issue(hall.admin, "B")
    server.counter(hall.clerk, 2, "open", expect=200)
    pair_display(page, hall, "?voice2=en-US")
    server.counter(hall.clerk, 2, "call-next", expect=200)
    wait_spoken(page, 4)
    assert [(u["text"], u["lang"]) for u in spoken(page)] == [
        ("请 B001 号 到 2号窗口", "zh-CN"),
        ("Number B001, please go to counter 2", "en-US"),
    ] * 2


def test_replayed_calls_older_than_30_seconds_are_shown_but_not_spoken(
    page: Page, hall: Hall
) -> None:
    server = hall.server
    for _ in range(3):
        server.issue(hall.admin, "A")
    server.counter(hall.clerk, 1, "open", expect=200)
    server.counter(hall.clerk, 2, "open", expect=200)
    pair_display(page, hall)
    page.close()  # the screen is switched off; it keeps its board and last seq

    server.counter(hall.clerk, 1, "call-next", expect=200)  # A001, while nobody watches
    server.clock.skew += 40
    server.counter(hall.clerk, 2, "call-next", expect=200)  # A002, 40 s later

    again = page.context.new_page()
    again.goto("/screens/display/b1")
    wait_online(again)
    expect(latest(again)).to_have_attribute("data-sentence", "请 A002 号 到 2号窗口")
    expect(again.locator("#recent-calls li")).to_have_count(2)
    expect(again.locator("#recent-calls li").nth(1)).to_contain_text("A001")
    wait_spoken(again, 2)
    server.counter(hall.clerk, 1, "finish", expect=200)
    server.counter(hall.clerk, 1, "call-next", expect=200)  # A003, live
    wait_spoken(again, 4)
    again.wait_for_timeout(1500)
    assert spoken_texts(again) == ["请 A002 号 到 2号窗口"] * 2 + ["请 A003 号 到 1号窗口"] * 2
    screenshot(again, "display-after-replay")


def test_offline_keeps_the_board_and_resumes_when_the_server_is_back(
    page: Page, hall: Hall
) -> None:
    server = hall.server
    server.issue(hall.admin, "A")
    server.issue(hall.admin, "A")
    server.counter(hall.clerk, 1, "open", expect=200)
    pair_display(page, hall)
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(latest(page)).to_have_attribute("data-sentence", "请 A001 号 到 1号窗口")

    server.stop()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("网络中断")
    expect(latest(page)).to_have_text("请 A001 号 到 1号窗口")  # the last board stays
    screenshot(page, "display-offline")

    server.start()
    wait_online_within = 20_000  # the reconnect backoff has grown while the server was away
    expect(page.locator("#offline")).to_be_hidden(timeout=wait_online_within)
    server.counter(hall.clerk, 1, "finish", expect=200)
    server.counter(hall.clerk, 1, "call-next", expect=200)
    expect(latest(page)).to_have_attribute("data-sentence", "请 A002 号 到 1号窗口")
    wait_spoken(page, 4)
    assert spoken_texts(page) == ["请 A001 号 到 1号窗口"] * 2 + ["请 A002 号 到 1号窗口"] * 2


def test_the_board_switches_to_english(page: Page, hall: Hall) -> None:
    pair_display(page, hall)
    page.click("[data-lang-switch]")
    expect(page.locator("#latest-sentence")).to_have_text("Welcome")
    expect(page.locator(".recent-head")).to_contain_text("Counter")


def test_a_revoked_display_goes_back_to_the_pairing_form(page: Page, hall: Hall) -> None:
    pair_display(page, hall)
    devices = hall.server.call("GET", "/branches/b1/devices", hall.manager, 200)
    hall.server.call("DELETE", f"/branches/b1/devices/{devices[0]['id']}", hall.manager, 204)
    # The server closes a revoked device's socket (4401) within a few seconds.
    expect(page.locator("#pairing")).to_be_visible(timeout=10_000)
    assert page.evaluate("localStorage.getItem('queuehall.device.b1.display')") is None
