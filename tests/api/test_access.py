"""Who may do what, where: the role x endpoint x own-branch/other-branch matrix, as data.

``BRANCH_ROUTES`` lists every route that acts for one branch and the principals allowed on it.
Every principal of branch b1 (and an anonymous caller) calls every route on b1 and on b2: an
allowed call is never refused (no 401 or 403, and never a 500), a refused one is a 403 with the
error body, and an anonymous one a 401. A route added to the app without a row here fails
:func:`test_the_table_names_every_route_of_the_app`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.main import create_app
from app.settings import Settings
from tests.security.routes import served_routes

from .conftest import DEVICE_KINDS, SECRET, Api, Hall, assert_error, staffed_hall

STAFF = frozenset({"admin", "branch-admin", "manager", "clerk"})
MANAGERS = frozenset({"admin", "branch-admin", "manager"})
EVERYONE = STAFF | frozenset(DEVICE_KINDS)
PRINCIPALS = ("admin", "branch-admin", "manager", "clerk", *DEVICE_KINDS)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the app declares it, under /api/v1
    allowed: frozenset[str]
    body: Any = None
    values: dict[str, Any] = field(default_factory=dict)  # path parameters besides the branch


def counter_command(name: str, body: Any = None) -> Route:
    return Route(
        "POST",
        f"/branches/{{branch}}/counters/{{number}}/{name}",
        STAFF | {"counter"},
        body,
        {"number": 1},
    )


BRANCH_ROUTES: tuple[Route, ...] = (
    Route("GET", "/branches/{branch}", EVERYONE),
    Route("PUT", "/branches/{branch}/policy", MANAGERS, {}),
    Route("GET", "/branches/{branch}/services", EVERYONE),
    Route("POST", "/branches/{branch}/services", MANAGERS, {"code": "X", "name": "新业务"}),
    Route("GET", "/branches/{branch}/services/{code}", STAFF, values={"code": "A"}),
    Route(
        "PUT",
        "/branches/{branch}/services/{code}",
        MANAGERS,
        {"code": "B", "name": "业务B"},
        {"code": "B"},
    ),
    Route("DELETE", "/branches/{branch}/services/{code}", MANAGERS, values={"code": "Z"}),
    Route(
        "POST",
        "/branches/{branch}/services/{code}/pause",
        MANAGERS,
        {"reason": "检修", "notice": False},
        {"code": "B"},
    ),
    Route("POST", "/branches/{branch}/services/{code}/resume", MANAGERS, values={"code": "B"}),
    Route("GET", "/branches/{branch}/counters", STAFF),
    Route("POST", "/branches/{branch}/counters", MANAGERS, {"number": 7, "tiers": [["A"]]}),
    Route("GET", "/branches/{branch}/counters/{number}", STAFF, values={"number": 1}),
    Route(
        "PUT",
        "/branches/{branch}/counters/{number}",
        MANAGERS,
        {"number": 2, "tiers": [["B", "A"]]},
        {"number": 2},
    ),
    Route("DELETE", "/branches/{branch}/counters/{number}", MANAGERS, values={"number": 9}),
    Route(
        "POST",
        "/branches/{branch}/staff",
        MANAGERS,
        {"username": "new-clerk", "password": "a-long-password", "role": "clerk"},
    ),
    Route("GET", "/branches/{branch}/staff", MANAGERS),
    Route("PUT", "/branches/{branch}/staff/{user_id}", MANAGERS, {"display_name": "小王"}),
    Route("DELETE", "/branches/{branch}/staff/{user_id}", MANAGERS),
    Route("POST", "/branches/{branch}/devices", MANAGERS, {"kind": "display", "name": "大屏"}),
    Route("GET", "/branches/{branch}/devices", MANAGERS),
    Route("DELETE", "/branches/{branch}/devices/{device_id}", MANAGERS),
    Route("POST", "/branches/{branch}/tickets", STAFF | {"kiosk"}, {"service": "A"}),
    counter_command("open"),
    counter_command("pause"),
    counter_command("close"),
    counter_command("call-next"),
    counter_command("call", {"ticket": "A001"}),
    counter_command("recall"),
    counter_command("start"),
    counter_command("finish", {"outcome": "办结"}),
    counter_command("next", {"outcome": "办结"}),
    counter_command("no-show"),
    counter_command("transfer", {"service": "B"}),
    counter_command("park"),
    counter_command("unpark", {"ticket": "A001"}),
    counter_command("return", {"ticket": "A001"}),
    Route("GET", "/branches/{branch}/queue", EVERYONE),
    Route("GET", "/branches/{branch}/events", STAFF),
    # Evaluation: the evaluator stands at counter 1; staff may read what it shows.
    Route(
        "GET",
        "/branches/{branch}/counters/{number}/rating",
        STAFF | {"evaluator"},
        None,
        {"number": 1},
    ),
    Route(
        "POST",
        "/branches/{branch}/counters/{number}/rating",
        frozenset({"evaluator"}),
        {"level": "satisfied"},
        {"number": 1},
    ),
    Route("GET", "/branches/{branch}/ratings", MANAGERS),
    # Follow-up cases: a clerk reads and annotates the cases assigned to them (404 for others).
    Route("GET", "/branches/{branch}/cases", STAFF),
    Route("POST", "/branches/{branch}/cases", MANAGERS, {"source": "phone", "description": "投诉"}),
    Route("GET", "/branches/{branch}/cases/{case_id}", STAFF),
    Route("PUT", "/branches/{branch}/cases/{case_id}/assignee", MANAGERS, {"assignee": None}),
    Route("POST", "/branches/{branch}/cases/{case_id}/notes", STAFF, {"text": "已回访"}),
    Route("POST", "/branches/{branch}/cases/{case_id}/close", MANAGERS, {"resolution": "已解决"}),
    # Appointments (issue #5): a kiosk lists slots and checks bookings in, as a counter does.
    Route("GET", "/branches/{branch}/booking-rules", STAFF),
    Route("PUT", "/branches/{branch}/booking-rules", MANAGERS, {}),
    Route("GET", "/branches/{branch}/slot-templates", STAFF),
    Route(
        "POST",
        "/branches/{branch}/slot-templates",
        MANAGERS,
        {
            "service": "A",
            "weekday": 0,
            "start": "09:00",
            "end": "12:00",
            "slot_minutes": 30,
            "capacity": 3,
        },
    ),
    Route(
        "DELETE",
        "/branches/{branch}/slot-templates/{template_id}",
        MANAGERS,
        values={"template_id": 999999},
    ),
    Route("GET", "/branches/{branch}/closures", STAFF),
    Route("POST", "/branches/{branch}/closures", MANAGERS, {"first_day": "2030-01-02"}),
    Route(
        "DELETE", "/branches/{branch}/closures/{closure_id}", MANAGERS, values={"closure_id": 999}
    ),
    Route("GET", "/branches/{branch}/slots", STAFF | {"kiosk"}),
    Route("GET", "/branches/{branch}/bookings", STAFF),
    Route("POST", "/branches/{branch}/bookings", STAFF, {"slot": 999999, "phone": "13800000000"}),
    Route("GET", "/branches/{branch}/bookings/{code}", STAFF, values={"code": "NOSUCH23"}),
    Route("POST", "/branches/{branch}/bookings/{code}/cancel", STAFF, {}, {"code": "NOSUCH23"}),
    Route(
        "POST",
        "/branches/{branch}/bookings/{code}/reschedule",
        STAFF,
        {"slot": 999999},
        {"code": "NOSUCH23"},
    ),
    Route(
        "POST", "/branches/{branch}/check-in", STAFF | {"kiosk", "counter"}, {"code": "NOSUCH23"}
    ),
    Route("GET", "/branches/{branch}/remote-settings", STAFF),
    Route(
        "PUT",
        "/branches/{branch}/services/{code}/remote",
        MANAGERS,
        {"enabled": True},
        {"code": "A"},
    ),
    Route("PUT", "/branches/{branch}/profile", MANAGERS, {"address": "人民路1号"}),
    # Reports: managers of the branch; every branch's report for the administrator of all.
    Route("GET", "/branches/{branch}/reports", MANAGERS),
    Route("GET", "/branches/{branch}/dashboard", MANAGERS),
    # Notices: managers write them; a display reads its own, staff read them all.
    Route("POST", "/branches/{branch}/notices", MANAGERS, {"text": "今日系统升级"}),
    Route("GET", "/branches/{branch}/notices", STAFF),
    Route("GET", "/branches/{branch}/notices/current", STAFF | {"display"}),
    Route("PUT", "/branches/{branch}/notices/{notice_id}", MANAGERS, {"text": "改"}),
    Route("DELETE", "/branches/{branch}/notices/{notice_id}", MANAGERS),
    Route("GET", "/branches/{branch}/audit", MANAGERS),
)

# The mini-program's routes need a customer session (tests/mp/test_mp_access.py checks them);
# no staff or device token is one.
CUSTOMER = frozenset({"customer"})

# Routes that name no branch: who may call them (None: anyone, without a credential).
UNSCOPED_ROUTES: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/api/v1/branches"): EVERYONE,
    ("POST", "/api/v1/branches"): frozenset({"admin"}),
    ("GET", "/api/v1/reports"): frozenset({"admin"}),
    ("GET", "/api/v1/audit"): frozenset({"admin"}),
    ("POST", "/api/v1/auth/token"): None,
    ("POST", "/api/v1/devices/pair"): None,
    ("GET", "/api/v1/tickets/{token}"): None,
    ("DELETE", "/api/v1/tickets/{token}"): None,
    ("GET", "/api/v1/tickets/{token}/rating"): None,
    ("POST", "/api/v1/tickets/{token}/rating"): None,
    ("POST", "/api/v1/mp/login"): None,
    ("GET", "/api/v1/mp/me"): CUSTOMER,
    ("PUT", "/api/v1/mp/me"): CUSTOMER,
    ("GET", "/api/v1/mp/branches"): CUSTOMER,
    ("GET", "/api/v1/mp/branches/{branch}/services"): CUSTOMER,
    ("GET", "/api/v1/mp/branches/{branch}/slots"): CUSTOMER,
    ("POST", "/api/v1/mp/bookings"): CUSTOMER,
    ("GET", "/api/v1/mp/bookings"): CUSTOMER,
    ("GET", "/api/v1/mp/bookings/{booking_id}"): CUSTOMER,
    ("POST", "/api/v1/mp/bookings/{booking_id}/cancel"): CUSTOMER,
    ("POST", "/api/v1/mp/bookings/{booking_id}/reschedule"): CUSTOMER,
    ("POST", "/api/v1/mp/bookings/{booking_id}/check-in"): CUSTOMER,
    ("POST", "/api/v1/mp/tickets"): CUSTOMER,
    ("GET", "/api/v1/mp/tickets"): CUSTOMER,
    ("POST", "/api/v1/mp/tickets/{remote_id}/arrive"): CUSTOMER,
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    # The screens' pages are public: each asks for its own credential (pairing, sign-in); the
    # ticket page and its QR code need the ticket's token.
    ("GET", "/screens/display/{branch}"): None,
    ("GET", "/screens/counter/{branch}/{number}"): None,
    ("GET", "/screens/kiosk/{branch}"): None,
    ("GET", "/screens/evaluator/{branch}/{number}"): None,
    ("GET", "/screens/dashboard/{branch}"): None,
    ("GET", "/screens/reports/{branch}"): None,
    ("GET", "/t/{token}"): None,
    ("GET", "/t/{token}/qr.svg"): None,
}


@dataclass
class Targets:
    """What the mutating routes act on at each branch: a spare clerk and a spare device, so
    that no principal under test revokes itself."""

    users: dict[str, int]
    devices: dict[str, int]
    cases: dict[str, int]
    notices: dict[str, int]


async def targets(api: Api, hall: Hall) -> Targets:
    users, devices, cases, notices = {}, {}, {}, {}
    for branch, manager in (("b1", hall.manager), ("b2", hall.other["manager"])):
        spare = await api.post(
            f"/branches/{branch}/staff",
            manager,
            json={"username": f"{branch}-spare", "password": "spare-password", "role": "clerk"},
        )
        assert spare.status_code == 201, spare.text
        users[branch] = spare.json()["id"]
        device = await api.post(
            f"/branches/{branch}/devices", manager, json={"kind": "kiosk", "name": "备用"}
        )
        assert device.status_code == 201, device.text
        devices[branch] = device.json()["id"]
        case = await api.post(
            f"/branches/{branch}/cases", manager, json={"source": "desk", "description": "投诉"}
        )
        assert case.status_code == 201, case.text
        cases[branch] = case.json()["id"]
        notice = await api.post(f"/branches/{branch}/notices", manager, json={"text": "公告"})
        assert notice.status_code == 201, notice.text
        notices[branch] = notice.json()["id"]
    return Targets(users, devices, cases, notices)


def path_of(route: Route, branch: str, spare: Targets) -> str:
    values = {
        "branch": branch,
        "user_id": spare.users[branch],
        "device_id": spare.devices[branch],
        "case_id": spare.cases[branch],
        "notice_id": spare.notices[branch],
        **route.values,
    }
    return route.path.format(**values)


def expected_allowed(principal: str, route: Route, branch: str) -> bool:
    """Each principal acts for branch b1 only, except the administrator of every branch."""
    return principal in route.allowed and (branch == "b1" or principal == "admin")


async def call(api: Api, route: Route, path: str, headers: dict[str, str]) -> Any:
    if route.body is None:
        return await api.request(route.method, path, headers)
    return await api.request(route.method, path, headers, json=route.body)


async def test_every_principal_gets_exactly_what_the_table_allows_at_each_branch(
    api: Api,
) -> None:
    hall = await staffed_hall(api)
    spare = await targets(api, hall)
    await api.issue(hall.clerk, "b1")
    await api.issue(hall.other["clerk"], "b2")
    wrong = []
    for principal in PRINCIPALS:
        for route in BRANCH_ROUTES:
            for branch in ("b1", "b2"):
                path = path_of(route, branch, spare)
                response = await call(api, route, path, hall.own[principal])
                allowed = expected_allowed(principal, route, branch)
                refused = response.status_code in (401, 403)
                if allowed == refused:
                    wrong.append(
                        f"{principal} {route.method} {path}: {response.status_code} {response.text}"
                    )
                elif refused:
                    assert_error(response, 403, "Forbidden")
                elif response.status_code >= 400:
                    assert_error(response, response.status_code)
    assert not wrong, "\n".join(wrong)


async def test_a_caller_without_a_credential_is_refused_401_everywhere_but_public_routes(
    api: Api,
) -> None:
    hall = await staffed_hall(api)
    spare = await targets(api, hall)
    for route in BRANCH_ROUTES:
        response = await call(api, route, path_of(route, "b1", spare), {})
        assert_error(response, 401, "NotAuthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_error(await api.get("/branches"), 401)
    assert_error(await api.post("/branches", json={"id": "b3", "name": "三号"}), 401)


async def test_only_the_administrator_of_every_branch_may_add_a_branch(api: Api) -> None:
    hall = await staffed_hall(api)
    for principal in PRINCIPALS:
        response = await api.post(
            "/branches", hall.own[principal], json={"id": f"new-{principal}", "name": "新网点"}
        )
        if principal == "admin":
            assert response.status_code == 201, response.text
        else:
            assert_error(response, 403, "Forbidden")


async def test_each_principal_lists_only_the_branches_it_may_see(api: Api) -> None:
    hall = await staffed_hall(api)
    for principal in PRINCIPALS:
        listed = await api.get("/branches", hall.own[principal])
        assert listed.status_code == 200
        expected = ["b1", "b2"] if principal == "admin" else ["b1"]
        assert sorted(b["id"] for b in listed.json()) == expected, principal
    seen_by_b2 = await api.get("/branches", hall.other["clerk"])
    assert [b["id"] for b in seen_by_b2.json()] == ["b2"]


async def test_a_clerk_of_branch_a_is_refused_at_branch_b(api: Api) -> None:
    hall = await staffed_hall(api)
    refused = await api.post("/branches/b2/tickets", hall.clerk, json={"service": "A"})
    assert_error(refused, 403, "Forbidden")
    assert "own branch" in refused.json()["detail"]
    assert_error(await api.counter(hall.clerk, 1, "open", branch="b2"), 403)
    assert_error(await api.get("/branches/b2/queue", hall.clerk), 403)


async def test_a_display_reads_the_queue_but_cannot_write_anything(api: Api) -> None:
    hall = await staffed_hall(api)
    display = hall.own["display"]
    assert (await api.get("/branches/b1/queue", display)).status_code == 200
    refused = await api.post("/branches/b1/tickets", display, json={"service": "A"})
    assert_error(refused, 403, "Forbidden")
    assert refused.json()["detail"] == "A display device may not do this."
    refused = await api.post("/branches/b1/tickets", hall.own["evaluator"], json={"service": "A"})
    assert refused.json()["detail"] == "An evaluator device may not do this."
    assert_error(await api.counter(display, 1, "open"), 403)
    assert_error(await api.counter(display, 1, "call-next"), 403)
    queue = await api.get("/branches/b1/queue", hall.clerk)
    assert queue.json()["waiting"] == 0
    assert queue.json()["counters"][0]["state"] == "closed"


async def test_a_manager_may_add_and_change_clerks_only(api: Api) -> None:
    hall = await staffed_hall(api)
    for role in ("manager", "admin"):
        response = await api.post(
            "/branches/b1/staff",
            hall.manager,
            json={"username": f"new-{role}", "password": "a-long-password", "role": role},
        )
        assert_error(response, 403, "Forbidden")
    staff = (await api.get("/branches/b1/staff", hall.manager)).json()
    manager_id = next(u["id"] for u in staff if u["username"] == "b1-manager")
    clerk_id = next(u["id"] for u in staff if u["username"] == "b1-clerk")
    promote = await api.put(
        f"/branches/b1/staff/{clerk_id}", hall.manager, json={"role": "manager"}
    )
    assert_error(promote, 403)
    assert_error(
        await api.put(f"/branches/b1/staff/{manager_id}", hall.manager, json={"active": False}),
        403,
    )
    assert_error(await api.delete(f"/branches/b1/staff/{manager_id}", hall.manager), 403)
    by_branch_admin = await api.post(
        "/branches/b1/staff",
        hall.own["branch-admin"],
        json={"username": "second-manager", "password": "a-long-password", "role": "manager"},
    )
    assert by_branch_admin.status_code == 201, by_branch_admin.text


async def test_staff_and_devices_of_another_branch_are_not_found_through_ones_own(
    api: Api,
) -> None:
    hall = await staffed_hall(api)
    spare = await targets(api, hall)
    path = f"/branches/b1/staff/{spare.users['b2']}"
    assert_error(await api.put(path, hall.manager, json={"display_name": "x"}), 404, "NotFound")
    assert_error(await api.delete(path, hall.manager), 404, "NotFound")
    assert_error(await api.delete(f"/branches/b1/devices/{spare.devices['b2']}", hall.manager), 404)
    b2_staff = await api.get("/branches/b2/staff", hall.other["manager"])
    assert spare.users["b2"] in [u["id"] for u in b2_staff.json()]


# Routes outside the access tables: the API document and its pages (public, no data), the
# screens' static files, and the WebSockets, whose matrix is WS_ROUTES in
# tests/security/test_matrix.py.
NOT_IN_THESE_TABLES = frozenset(
    {
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
        ("MOUNT", "/screens/static"),
    }
)


def declared_routes() -> set[tuple[str, str]]:
    """Every HTTP (method, path) of the app as built (health at the root, the API under
    /api/v1, the screens' pages), but the document's pages and static files."""
    served = served_routes(create_app(Settings(secret_key=SECRET)))
    return {route for route in served if route[0] != "WEBSOCKET"} - NOT_IN_THESE_TABLES


def test_the_table_names_every_route_of_the_app() -> None:
    """Walks the app as built, so that a route added by any router needs a row here."""
    tabled = {(r.method, f"/api/v1{r.path}") for r in BRANCH_ROUTES} | set(UNSCOPED_ROUTES)
    assert declared_routes() == tabled
