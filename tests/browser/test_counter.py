"""The counter terminal: a clerk signs in and its buttons and shortcut keys drive tickets through
their whole life; buttons that cannot apply are disabled; a double click calls once."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from .conftest import Hall, screenshot


def button(page: Page, action: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-action="{action}"]')


def sign_in(page: Page, hall: Hall) -> None:
    page.goto("/screens/counter/b1/1")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#username", hall.clerk_login[0])
    page.fill("#password", hall.clerk_login[1])
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#terminal")).to_be_visible()


def test_the_buttons_drive_a_full_ticket_lifecycle(page: Page, hall: Hall) -> None:
    server = hall.server
    for _ in range(3):
        server.issue(hall.admin, "A")
    sign_in(page, hall)
    expect(page.locator("#counter-state")).to_have_text("已关闭")
    expect(button(page, "call-next")).to_be_disabled()
    expect(page.locator('#waiting-list li[data-service="A"] strong')).to_have_text("3")

    button(page, "open").click()
    expect(page.locator("#counter-state")).to_have_text("服务中")
    expect(button(page, "call-next")).to_be_enabled()
    for action in ("recall", "start", "finish", "no-show", "transfer", "park", "unpark", "open"):
        expect(button(page, action)).to_be_disabled()

    button(page, "call-next").dblclick()
    expect(page.locator("#current-number")).to_have_text("A001")
    expect(page.locator("#current-service")).to_have_text("A 个人业务")
    expect(page.locator("#current-state")).to_have_text("已呼叫")
    expect(page.locator("#current-reason")).not_to_have_text("—")
    expect(button(page, "call-next")).to_be_disabled()
    expect(page.locator('#waiting-list li[data-service="A"] strong')).to_have_text("2")
    screenshot(page, "counter-called")

    button(page, "recall").click()
    expect(page.locator("#status")).to_have_text("已完成：重呼")
    assert server.queue(hall.clerk)["counters"][0]["ticket"]["recalls"] == 1

    button(page, "start").click()
    expect(page.locator("#current-state")).to_have_text("办理中")
    expect(button(page, "recall")).to_be_disabled()
    expect(button(page, "no-show")).to_be_disabled()
    button(page, "finish").click()
    expect(page.locator("#current-number")).to_have_text("—")

    page.keyboard.press("F1")  # the hardware caller's "call" key
    expect(page.locator("#current-number")).to_have_text("A002")
    page.keyboard.press("F5")  # no-show; must not reload the page
    expect(page.locator("#current-number")).to_have_text("—")

    button(page, "call-next").click()
    expect(page.locator("#current-number")).to_have_text("A003")
    button(page, "park").click()
    expect(page.locator("#parked-list")).to_have_text("A003")
    expect(button(page, "unpark")).to_be_enabled()
    button(page, "unpark").click()
    expect(page.locator("#current-number")).to_have_text("A003")

    button(page, "transfer").click()
    expect(page.locator("#transfer-dialog")).to_be_visible()
    page.select_option("#transfer-target", "service:B")
    page.click("#transfer-form button[type=submit]")
    expect(page.locator("#current-number")).to_have_text("—")
    expect(page.locator('#waiting-list li[data-service="B"] strong')).to_have_text("1")

    button(page, "pause").click()
    expect(page.locator("#counter-state")).to_have_text("暂停")
    expect(button(page, "call-next")).to_be_disabled()
    button(page, "open").click()
    expect(page.locator("#counter-state")).to_have_text("服务中")
    screenshot(page, "counter-after-lifecycle")

    # Every click acted once, the double click included: one call of A001.
    assert server.event_types(hall.clerk)[3:] == [
        "counter_state_changed",  # open
        "ticket_called",  # A001, double click
        "ticket_recalled",
        "service_started",
        "ticket_finished",
        "ticket_called",  # A002, F1
        "ticket_missed",  # F5
        "ticket_called",  # A003
        "ticket_parked",
        "ticket_unparked",
        "ticket_transferred",
        "counter_state_changed",  # pause
        "counter_state_changed",  # resume
    ]


def test_the_page_switches_to_english_and_back(page: Page, hall: Hall) -> None:
    sign_in(page, hall)
    page.click("[data-lang-switch]")
    expect(button(page, "call-next")).to_contain_text("Call next")
    expect(page.locator("#counter-state")).to_have_text("closed")
    page.click("[data-lang-switch]")
    expect(button(page, "call-next")).to_contain_text("叫号")


def test_a_clerk_of_another_branch_is_refused_at_sign_in(page: Page, hall: Hall) -> None:
    server = hall.server
    server.call("POST", "/branches", hall.admin, 201, json={"id": "b2", "name": "第二网点"})
    server.call(
        "POST",
        "/branches/b2/staff",
        hall.admin,
        201,
        json={"username": "other-clerk", "password": "other-password", "role": "clerk"},
    )
    page.goto("/screens/counter/b1/1")
    page.fill("#username", "other-clerk")
    page.fill("#password", "other-password")
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#sign-in-message")).to_have_text("此账号不属于本网点")
    expect(page.locator("#terminal")).to_be_hidden()


def test_a_key_pressed_while_a_command_is_in_flight_runs_after_it(page: Page, hall: Hall) -> None:
    """The clerk finishes and at once presses the caller's "call" key, before the finish reply
    is back (a slow network): the call happens after the finish instead of being lost."""
    for _ in range(2):
        hall.server.issue(hall.admin, "A")
    sign_in(page, hall)
    button(page, "open").click()
    expect(button(page, "call-next")).to_be_enabled()
    page.keyboard.press("F1")
    expect(page.locator("#current-number")).to_have_text("A001")

    held: list[Route] = []
    page.route("**/counters/1/finish", lambda route: held.append(route))
    button(page, "finish").click()
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(10)
    assert held, "the finish request never left"
    page.keyboard.press("F1")  # while the finish is in flight
    page.keyboard.press("F1")  # a double press: still one call
    page.wait_for_timeout(200)
    expect(page.locator("#current-number")).to_have_text("A001")  # nothing happened yet
    held[0].continue_()
    expect(page.locator("#current-number")).to_have_text("A002")
    queue = hall.server.queue(hall.admin)
    assert queue["counters"][0]["ticket"]["number"] == "A002"
