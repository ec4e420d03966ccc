"""The managers' screens: a rating given on the counter's evaluator appears on the live
dashboard at once and in the clerk's row of the report, with its charts drawn."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from .conftest import Hall, screenshot
from .test_evaluator import open_evaluator
from .test_rating import served


def sign_in(page: Page, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#sign-in")).to_be_hidden()


def test_a_rating_on_the_evaluator_shows_on_the_dashboard_and_in_the_clerks_report(
    context: BrowserContext, hall: Hall
) -> None:
    board = context.new_page()
    board.goto("/screens/dashboard/b1")
    sign_in(board, "manager1", "manager1-password")
    expect(board.locator("#branch-name")).to_have_text("第一网点")
    expect(board.locator("#alerts li.none")).to_have_text("暂无告警")
    expect(board.locator("#fig-ratings")).to_have_text("0")

    evaluator = open_evaluator(context, hall)
    ticket = served(hall)
    expect(evaluator.locator("#prompt-ticket")).to_have_text(str(ticket["number"]))
    # The dashboard follows the finish over its socket.
    expect(board.locator("#fig-served")).to_have_text("1")
    evaluator.locator("#form [data-level=dissatisfied]").click()
    evaluator.locator("#form [data-reason=attitude]").click()
    evaluator.locator("#form .rate-send").click()
    expect(evaluator.locator("#form .rate-done")).to_have_text("感谢您的评价！")

    negative = board.locator("#alerts li[data-kind=negative_rating]")
    expect(negative).to_contain_text(f"{ticket['number']} 评价「不满意」")
    expect(board.locator("#fig-ratings")).to_have_text("1")
    expect(board.locator("#fig-satisfaction")).to_have_text("0%")
    screenshot(board, "dashboard-negative-rating")

    report = context.new_page()
    report.goto("/screens/reports/b1")
    sign_in(report, "manager1", "manager1-password")
    expect(report.locator("#report")).to_be_visible()
    report.select_option("#by", "clerk")
    report.click("#query button[type=submit]")
    expect(report.locator("#rows tbody tr")).to_have_count(1)
    row = report.locator("#rows tbody tr").first
    expect(row.locator("[data-column=key]")).to_have_text("clerk1")
    expect(row.locator("[data-column=served]")).to_have_text("1")
    expect(row.locator("[data-column=ratings]")).to_have_text("1")
    expect(row.locator("[data-column=satisfaction_rate]")).to_have_text("0%")
    expect(row.locator("[data-column=cases_opened]")).to_have_text("1")
    assert report.evaluate("typeof window.Chart") == "function"
    drawn = report.evaluate(
        "['chart-volume', 'chart-wait', 'chart-satisfaction', 'chart-levels']"
        ".map((id) => window.Chart.getChart(id)?.data.datasets[0].data)"
    )
    assert drawn == [[1], [0], [0], [1]]  # issued, mean wait (min), satisfaction, dissatisfied
    screenshot(report, "report-by-clerk")
