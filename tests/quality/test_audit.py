"""The audit log: every staff and device action that changes something is recorded with who,
when, what and from which device and address; secrets never; managers list and filter their
branch's entries, the administrator of every branch all of them."""

from __future__ import annotations

from typing import Any

from app.audit import without_secrets
from app.auth import Role
from tests.api.conftest import Api, Headers, assert_error, make_branch


async def hall(api: Api) -> tuple[Headers, Headers, Headers]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    await make_branch(api, admin, "b2")
    manager = await api.user("manager", Role.MANAGER, "b1")
    clerk = await api.user("clerk", Role.CLERK, "b1")
    return admin, manager, clerk


async def audit(api: Api, headers: Headers, path: str = "/branches/b1/audit", **params: Any) -> Any:
    response = await api.get(path, headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_staff_actions_and_configuration_changes_are_recorded_with_who_and_where(
    api: Api,
) -> None:
    _, manager, clerk = await hall(api)
    kiosk = await api.device(manager, "b1", "kiosk", "大厅取号机")
    api.clock.advance(60)
    changed = await api.put(
        "/branches/b1/services/A",
        manager,
        json={"code": "A", "name": "个人业务", "sla_minutes": 15},
    )
    assert changed.status_code == 200
    await api.issue(kiosk)
    await api.counter(clerk, 1, "open")
    await api.counter(clerk, 1, "call-next")
    refused = await api.counter(clerk, 2, "finish")  # nothing to finish: refused, still recorded
    assert refused.status_code == 409
    entries = await audit(api, manager)
    actions = [(e["actor_name"], e["action"], e["status"]) for e in reversed(entries)]
    assert actions[-5:] == [
        ("manager", "PUT /branches/{branch}/services/{code}", 200),
        ("大厅取号机", "POST /branches/{branch}/tickets", 201),
        ("clerk", "POST /branches/{branch}/counters/{number}/open", 200),
        ("clerk", "POST /branches/{branch}/counters/{number}/call-next", 200),
        ("clerk", "POST /branches/{branch}/counters/{number}/finish", 409),
    ]
    service_change = next(e for e in entries if e["method"] == "PUT")
    assert service_change["at"] == api.clock.now
    assert (service_change["actor_kind"], service_change["role"]) == ("staff", "manager")
    assert service_change["path"] == "/api/v1/branches/b1/services/A"
    assert service_change["detail"] == {"code": "A", "name": "个人业务", "sla_minutes": 15}
    assert service_change["address"] == "127.0.0.1"
    assert service_change["device"].startswith("python-httpx")  # the browser's user agent
    issued = next(e for e in entries if e["actor_name"] == "大厅取号机")
    assert (issued["actor_kind"], issued["role"], issued["device"]) == (
        "device",
        "kiosk",
        "大厅取号机",
    )


async def test_reads_and_customers_are_not_recorded_and_secrets_never(api: Api) -> None:
    admin, manager, clerk = await hall(api)
    ticket = await api.issue(clerk)
    await api.get("/branches/b1/queue", manager)
    await api.delete(f"/tickets/{ticket['token']}")  # the customer cancels by the ticket's link
    created = await api.post(
        "/branches/b1/staff",
        manager,
        json={"username": "new-clerk", "password": "a-long-password", "role": "clerk"},
    )
    assert created.status_code == 201
    await api.sign_in("clerk", "wrong-password")
    entries = await audit(api, manager)
    assert all(e["method"] != "GET" for e in entries)
    assert not any(e["path"].startswith("/api/v1/tickets/") for e in entries)
    staff = next(e for e in entries if e["action"] == "POST /branches/{branch}/staff")
    assert staff["detail"] == {"username": "new-clerk", "password": "***", "role": "clerk"}
    # Sign-ins name no branch: the administrator of every branch sees them.
    sign_ins = await audit(api, admin, "/audit", action="POST /auth/token", failed=True)
    assert [(e["detail"], e["status"], e["actor_kind"]) for e in sign_ins] == [
        ({"username": "clerk"}, 401, "anonymous")
    ]
    assert "password" not in str(sign_ins)


async def test_managers_filter_their_branch_and_see_no_other(api: Api) -> None:
    admin, manager, clerk = await hall(api)
    await api.counter(clerk, 1, "open")
    api.clock.advance(100)
    await api.counter(clerk, 1, "pause")
    await api.post("/branches/b2/services", admin, json={"code": "C", "name": "业务C"})
    staff = (await api.get("/branches/b1/staff", manager)).json()
    clerk_id = next(u["id"] for u in staff if u["username"] == "clerk")
    by_clerk = await audit(api, manager, actor=clerk_id)
    assert [e["action"].rsplit("/", 1)[1] for e in by_clerk] == ["pause", "open"]
    later = await audit(api, manager, since=api.clock.now)
    assert [e["action"].rsplit("/", 1)[1] for e in later] == ["pause"]
    assert all(e["branch"] == "b1" for e in await audit(api, manager, limit=1000))
    made = await audit(api, manager, action="POST /branches/{branch}/services")
    assert [e["path"] for e in made] == ["/api/v1/branches/b1/services"] * 2  # A and B, by root
    everywhere = await audit(api, admin, "/audit", branch="b2")
    assert (everywhere[0]["action"], everywhere[0]["detail"]["code"]) == (
        "POST /branches/{branch}/services",
        "C",
    )
    assert {e["branch"] for e in everywhere} == {"b2"}
    assert_error(await api.get("/branches/b2/audit", manager), 403, "Forbidden")
    assert_error(await api.get("/audit", manager), 403, "Forbidden")
    assert_error(await api.get("/branches/b1/audit", clerk), 403, "Forbidden")


def test_secrets_are_masked_at_any_depth() -> None:
    assert without_secrets(
        {"password": "x", "user": {"new_password": "y", "name": "z"}, "items": [{"token": 1}]}
    ) == {
        "password": "***",
        "user": {"new_password": "***", "name": "z"},
        "items": [{"token": "***"}],
    }
