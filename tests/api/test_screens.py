"""The screens' pages and the ticket QR code, as served (the pages themselves are driven in a
browser in tests/browser/)."""

from __future__ import annotations

import io

import segno

from .conftest import Api, staffed_hall


def qr_svg(url: str) -> bytes:
    svg = io.BytesIO()
    segno.make(url, error="m").save(
        svg, kind="svg", scale=1, border=4, xmldecl=False, svgns=True, unit="mm"
    )
    return svg.getvalue()


async def test_each_screen_is_served_as_a_page_of_the_app(api: Api) -> None:
    await staffed_hall(api)
    for path, script in (
        ("/screens/display/b1", "display.js"),
        ("/screens/counter/b1/1", "counter.js"),
        ("/screens/kiosk/b1", "kiosk.js"),
        ("/screens/dashboard/b1", "dashboard.js"),
        ("/screens/reports/b1", "reports.js"),
        ("/t/" + "x" * 32, "ticket.js"),
    ):
        response = await api.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert f"/screens/static/{script}" in response.text
        asset = await api.client.get(f"/screens/static/{script}")
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]


async def test_a_screen_of_an_unknown_branch_is_not_found(api: Api) -> None:
    await staffed_hall(api)
    assert (await api.client.get("/screens/display/nowhere")).status_code == 404
    assert (await api.client.get("/screens/kiosk/B1")).status_code == 422
    assert (await api.client.get("/screens/static/../../settings.py")).status_code == 404
    assert (await api.client.get("/screens/reports/nowhere")).status_code == 404


async def test_the_chart_library_is_bundled_with_its_licence(api: Api) -> None:
    chart = await api.client.get("/screens/static/vendor/chart.umd.min.js")
    assert chart.status_code == 200
    assert chart.text.startswith("/*!\n * Chart.js v4.")
    licence = await api.client.get("/screens/static/vendor/chart.js-LICENSE.md")
    assert "MIT" in licence.text or "Permission is hereby granted" in licence.text


async def test_the_ticket_qr_code_names_the_ticket_page(api: Api) -> None:
    hall = await staffed_hall(api)
    ticket = await api.issue(hall.own["kiosk"])
    response = await api.client.get(f"/t/{ticket['token']}/qr.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == qr_svg(f"http://test/t/{ticket['token']}")
    assert (await api.client.get("/t/" + "x" * 32 + "/qr.svg")).status_code == 404


async def test_the_qr_code_uses_the_public_address_when_one_is_set(api: Api) -> None:
    hall = await staffed_hall(api)
    api.settings.public_url = "https://queue.example.cn/"
    ticket = await api.issue(hall.own["kiosk"])
    response = await api.client.get(f"/t/{ticket['token']}/qr.svg")
    assert response.content == qr_svg(f"https://queue.example.cn/t/{ticket['token']}")


async def test_the_queue_tells_screens_the_branch_name_clock_and_time_zone(api: Api) -> None:
    hall = await staffed_hall(api)
    queue = (await api.get("/branches/b1/queue", hall.own["display"])).json()
    assert (queue["name"], queue["timezone"], queue["now"]) == (
        "测试网点",
        "Asia/Shanghai",
        api.clock.now,
    )


async def test_a_kiosk_reads_the_services_with_their_materials(api: Api) -> None:
    hall = await staffed_hall(api)
    changed = await api.put(
        "/branches/b1/services/A",
        hall.manager,
        json={"code": "A", "name": "业务A", "materials": ["身份证"]},
    )
    assert changed.status_code == 200, changed.text
    services = (await api.get("/branches/b1/services", hall.own["kiosk"])).json()
    assert services[0]["materials"] == ["身份证"]
    branch = (await api.get("/branches/b1", hall.own["display"])).json()
    assert branch["name"] == "测试网点"
