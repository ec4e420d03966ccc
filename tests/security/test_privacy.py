"""Personal data stays with the owner and the staff: a complaint case holding a customer's name,
mobile number and ID number is readable by staff, and none of it reaches a lobby screen, a
customer's page or socket, or a log (the clerk's counter terminal is a staff view); nor does a
customer's ticket token reach a screen or the access log. The session-wide scan
(``tests/privacy.py``, installed by ``tests/conftest.py``) watches every other test's public
payloads, sockets and logs too.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from app.cli import MaskTicketTokens, log_config
from tests.api.conftest import Hall, staffed_hall
from tests.privacy import CUSTOMER_NAMES, SCAN, PrivacyScan
from tests.realtime.conftest import hall_server, token_of

PHONE = "13812345678"
ID_NUMBER = "11010119900307123X"
COMPLAINT = f"客户{CUSTOMER_NAMES[0]}（电话 {PHONE}，身份证 {ID_NUMBER}）投诉等候时间过长"


def test_the_scan_finds_each_kind_of_personal_data() -> None:
    """The control: the scan is not blind."""
    scan = PrivacyScan()
    scan.response("GET", "/api/v1/tickets/abc", COMPLAINT)
    assert len(scan.findings) == 1
    for kind in ("phone 13812345678", "ID number 11010119900307123X", f"name {CUSTOMER_NAMES[0]}"):
        assert kind in scan.findings[0]
    scan.response("GET", "/api/v1/branches/b1/cases/1", COMPLAINT)  # a staff view: not scanned
    assert len(scan.findings) == 1
    scan.remember_token("t" * 32)
    scan.response("GET", "/api/v1/branches/b1/queue", '{"token": "' + "t" * 32 + '"}')
    assert "ticket token" in scan.findings[1]
    timings = 'le="0.0025"} 0.043854681999846434 1763600000123 "issued_at": 1763600000.25'
    assert PrivacyScan().personal_data(timings) == []


async def test_a_customers_personal_data_never_leaves_the_staff_views(migrated: str) -> None:
    findings_before = len(SCAN.findings)
    async with hall_server(migrated) as server:
        api = server.api
        hall: Hall = await staffed_hall(api)
        display = await server.socket("/ws/branches/b1/display", token_of(hall.own["display"]))
        counter = await server.socket("/ws/branches/b1/counters/1", token_of(hall.clerk))
        assert (await counter.recv())["type"] == "snapshot"
        lobby: list[Any] = [await display.recv()]  # what the lobby screen shows
        ticket = await api.issue(hall.own["kiosk"])
        customer = await server.socket(f"/ws/tickets/{ticket['token']}")
        own: list[Any] = [await customer.recv()]  # what the customer's phone shows
        case = await api.post(
            "/branches/b1/cases",
            hall.manager,
            json={"source": "phone", "description": COMPLAINT, "ticket": ticket["number"]},
        )
        assert case.status_code == 201, case.text
        note = await api.post(
            f"/branches/b1/cases/{case.json()['id']}/notes",
            hall.manager,
            json={"text": f"已回访 {CUSTOMER_NAMES[1]} {PHONE}"},
        )
        assert note.status_code == 201, note.text
        # The staff view holds it all (the owner's and the staff's view).
        staff_view = (await api.get(f"/branches/b1/cases/{case.json()['id']}", hall.manager)).text
        assert PHONE in staff_view
        assert ID_NUMBER in staff_view
        assert CUSTOMER_NAMES[0] in staff_view
        # A service day goes on: called, served, rated; screens and the customer follow it.
        assert (await api.counter(hall.clerk, 1, "open")).status_code == 200
        assert (await api.counter(hall.clerk, 1, "call-next")).status_code == 200
        assert (
            await api.counter(hall.clerk, 1, "finish", json={"outcome": COMPLAINT[:40]})
        ).status_code == 200
        rated = await api.post(f"/tickets/{ticket['token']}/rating", json={"level": "satisfied"})
        assert rated.status_code == 201, rated.text
        lobby += await display.until(lambda m: m["type"] == "ticket_finished")
        # The clerk's terminal (a staff view) shows the clerk's own note; the lobby does not.
        finished = await counter.until(lambda m: m["type"] == "ticket_finished")
        assert PHONE in finished[-1]["data"]["outcome"]
        own += await customer.until(lambda m: m.get("data", {}).get("state") == "finished")
        for path in (f"/api/v1/tickets/{ticket['token']}", f"/t/{ticket['token']}"):
            own.append((await api.client.get(path)).text)
        own.append((await api.client.get(f"/api/v1/tickets/{ticket['token']}/rating")).text)
        for path in (
            "/api/v1/branches/b1/queue",
            "/api/v1/branches/b1",
            "/api/v1/branches/b1/services",
            "/metrics",
        ):
            response = await api.client.get(path, headers=hall.own["display"])
            assert response.status_code == 200, (path, response.text)
            lobby.append(response.text)
    for seen in (lobby, own):
        text = repr(seen)
        assert PHONE not in text
        assert ID_NUMBER not in text
        assert not any(name in text for name in CUSTOMER_NAMES)
    assert len(lobby) >= 8
    assert ticket["number"] in repr(lobby)
    assert ticket["token"] not in repr(lobby)  # the screens show the number, never the token
    assert SCAN.findings[findings_before:] == []


def access_record(path: str) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.9:51234", "GET", path, "1.1", 200),
        None,
    )


def test_the_access_log_masks_customer_ticket_tokens() -> None:
    token = secrets.token_urlsafe(24)
    mask = MaskTicketTokens()
    for path in (
        f"/api/v1/tickets/{token}",
        f"/api/v1/tickets/{token}/rating",
        f"/t/{token}",
        f"/t/{token}/qr.svg",
        f"/ws/tickets/{token}",
    ):
        record = access_record(path)
        assert mask.filter(record)
        message = record.getMessage()
        assert token not in message
        assert token[:4] in message  # enough to match two lines of one ticket
    kept = access_record("/api/v1/branches/b1/queue")
    assert mask.filter(kept)
    assert kept.getMessage().endswith('"GET /api/v1/branches/b1/queue HTTP/1.1" 200')


def test_the_served_logging_configuration_masks_the_access_log() -> None:
    config = log_config("info")
    access = config["loggers"]["uvicorn.access"]
    assert "mask_ticket_tokens" in access["filters"]
    assert config["filters"]["mask_ticket_tokens"]["()"] is MaskTicketTokens
    logging.config.dictConfig(config)  # a valid configuration
