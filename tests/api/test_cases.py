"""Follow-up cases: opened from complaints (or by ratings), assigned, annotated, closed with a
resolution; overdue after their deadline of working days; a clerk sees only their own."""

from __future__ import annotations

from app.auth import Role

from .conftest import Api, assert_error, make_branch

DAY = 86400.0


async def open_case(api: Api, manager: dict[str, str], **body: object) -> dict[str, object]:
    response = await api.post(
        "/branches/b1/cases", manager, json={"source": "phone", "description": "电话投诉", **body}
    )
    assert response.status_code == 201, response.text
    case: dict[str, object] = response.json()
    return case


async def staff_ids(api: Api, manager: dict[str, str]) -> dict[str, int]:
    staff = (await api.get("/branches/b1/staff", manager)).json()
    return {u["username"]: u["id"] for u in staff}


async def test_a_case_from_a_phone_complaint_is_assigned_annotated_and_closed(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    clerk = await api.user("clerk", Role.CLERK, "b1")
    ids = await staff_ids(api, manager)
    case = await open_case(api, manager, ticket="A001", counter=1)
    assert (case["state"], case["source"], case["ticket"], case["notes"]) == (
        "open",
        "phone",
        "A001",
        [],
    )
    assert case["deadline"] == api.clock.now + 4 * DAY  # Thursday: due Monday
    path = f"/branches/b1/cases/{case['id']}"
    # Not yet the clerk's: as if absent.
    assert_error(await api.get(path, clerk), 404, "NotFound")
    assert (await api.get("/branches/b1/cases", clerk)).json() == []
    assigned = await api.put(f"{path}/assignee", manager, json={"assignee": ids["clerk"]})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == ids["clerk"]
    assert [c["id"] for c in (await api.get("/branches/b1/cases", clerk)).json()] == [case["id"]]
    noted = await api.post(f"{path}/notes", clerk, json={"text": "已电话回访客户"})
    assert noted.status_code == 201, noted.text
    assert [n["text"] for n in noted.json()["notes"]] == ["已电话回访客户"]
    assert_error(await api.post(f"{path}/close", clerk, json={"resolution": "x"}), 403)
    api.clock.advance(60)
    closed = await api.post(f"{path}/close", manager, json={"resolution": "已道歉并说明"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["resolution"], body["closed_at"]) == (
        "closed",
        "已道歉并说明",
        api.clock.now,
    )
    assert body["closed_by"] == ids["manager"]
    for refused in (
        await api.post(f"{path}/close", manager, json={"resolution": "again"}),
        await api.post(f"{path}/notes", manager, json={"text": "late"}),
        await api.put(f"{path}/assignee", manager, json={"assignee": None}),
    ):
        assert_error(refused, 409, "CaseClosed")


async def test_an_open_case_past_its_deadline_is_overdue_until_closed(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    late = await open_case(api, manager, description="迟迟未处理")
    api.clock.advance(DAY)
    fresh = await open_case(api, manager, source="desk", description="现场投诉")
    api.clock.advance(3 * DAY + 1)  # past the first one's deadline (Monday 09:00)

    async def listed(query: str) -> list[object]:
        response = await api.get(f"/branches/b1/cases{query}", manager)
        assert response.status_code == 200, response.text
        return [(c["id"], c["overdue"]) for c in response.json()]

    assert await listed("") == [(late["id"], True), (fresh["id"], False)]
    assert await listed("?overdue=true") == [(late["id"], True)]
    assert await listed("?overdue=false") == [(fresh["id"], False)]
    assert await listed("?source=desk") == [(fresh["id"], False)]
    await api.post(f"/branches/b1/cases/{late['id']}/close", manager, json={"resolution": "ok"})
    assert await listed("?overdue=true") == []
    assert await listed("?state=closed") == [(late["id"], False)]


async def test_a_friday_case_is_due_on_tuesday(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    manager = await api.user("manager", Role.MANAGER, "b1")
    api.clock.advance(DAY)  # Friday 2025-11-21
    case = await open_case(api, manager)
    assert case["deadline"] == api.clock.now + 4 * DAY


async def test_a_case_is_assigned_only_to_active_staff_of_its_branch(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin, "b1")
    await make_branch(api, admin, "b2")
    manager = await api.user("manager", Role.MANAGER, "b1")
    await api.user("elsewhere", Role.CLERK, "b2")
    other = await api.user("b2-manager", Role.MANAGER, "b2")
    stranger = next(
        u["id"]
        for u in (await api.get("/branches/b2/staff", other)).json()
        if u["username"] == "elsewhere"
    )
    refused = await api.post(
        "/branches/b1/cases",
        manager,
        json={"source": "desk", "description": "x", "assignee": stranger},
    )
    assert_error(refused, 422, "UnknownAssignee")
    case = await open_case(api, manager)
    assigned = await api.put(
        f"/branches/b1/cases/{case['id']}/assignee", manager, json={"assignee": stranger}
    )
    assert_error(assigned, 422, "UnknownAssignee")
    # A case of b2 is not found through b1.
    theirs = await api.post(
        "/branches/b2/cases", other, json={"source": "desk", "description": "b2 的投诉"}
    )
    assert_error(await api.get(f"/branches/b1/cases/{theirs.json()['id']}", manager), 404)


async def test_a_case_needs_a_description_and_a_known_source(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    for body in (
        {"source": "phone", "description": ""},
        {"source": "rating", "description": "x"},
        {"source": "email", "description": "x"},
        {"source": "desk", "description": "x", "extra": 1},
    ):
        assert_error(await api.post("/branches/b1/cases", admin, json=body), 422, "Invalid")
