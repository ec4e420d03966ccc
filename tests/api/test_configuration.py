"""Branch configuration through the API: branches, the calling policy, services, counters and
staff. Every change goes through the branch's runtime, so the live queue follows at once."""

from __future__ import annotations

from typing import Any

from app.auth import Role

from .conftest import Api, Headers, assert_error, make_branch


async def admin_with_branch(api: Api) -> Headers:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return admin


# --------------------------------------------------------------------------------------------
# Branches


async def test_a_new_branch_starts_today_with_the_default_policy_and_nothing_else(
    api: Api,
) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    created = await api.post("/branches", admin, json={"id": "hq-1", "name": " 总行营业部 "})
    assert created.status_code == 201, created.text
    branch = created.json()
    assert branch["id"] == "hq-1"
    assert branch["name"] == "总行营业部"
    assert branch["timezone"] == "Asia/Shanghai"
    assert branch["business_day"] == "2025-11-20"
    assert branch["services"] == []
    assert branch["counters"] == []
    assert branch["policy"]["head_start_seconds"] == {
        "vip": 300.0,
        "care": 600.0,
        "appointment": 900.0,
    }
    assert (await api.get("/branches/hq-1", admin)).json() == branch


async def test_a_branch_id_is_taken_once(api: Api) -> None:
    admin = await admin_with_branch(api)
    again = await api.post("/branches", admin, json={"id": "b1", "name": "again"})
    assert_error(again, 409, "AlreadyExists")


BAD_BRANCHES: list[dict[str, Any]] = [
    {"id": "B1", "name": "upper case id"},
    {"id": "-b", "name": "leading dash"},
    {"id": "b" * 41, "name": "too long"},
    {"id": "b9", "name": ""},
    {"id": "b9", "name": "x" * 101},
    {"id": "b9", "name": "ok", "timezone": "Mars/Olympus"},
    {"id": "b9", "name": "ok", "timezone": "../../etc/passwd"},
    {"id": "b9", "name": "ok", "timezone": "Asia/Shang\x00hai"},
    {"id": "b9", "name": "nul \x00 in a name"},
    {"id": "b9", "name": "ok", "owner": "someone"},
]


async def test_a_branch_with_any_bad_field_is_refused_422(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    for body in BAD_BRANCHES:
        response = await api.post("/branches", admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.get("/branches", admin)).json() == []


async def test_an_unknown_branch_is_404(api: Api) -> None:
    admin = await api.user("root", Role.ADMIN, None)
    for path in ("/branches/nowhere", "/branches/nowhere/services", "/branches/nowhere/queue"):
        assert_error(await api.get(path, admin), 404, "UnknownBranch")
    assert_error(await api.put("/branches/nowhere/policy", admin, json={}), 404)


# --------------------------------------------------------------------------------------------
# Policy


async def test_the_policy_changes_head_starts_and_reads_back(api: Api) -> None:
    admin = await admin_with_branch(api)
    policy = {
        "head_start_seconds": {"vip": 60, "care": 1200},
        "strict_priority": False,
        "missed_grace_minutes": 10,
        "missed_reinsert_places": 2,
        "missed_max_returns": 2,
        "auto_miss_after_recalls": 3,
        "almost_turn_ahead": 5,
    }
    response = await api.put("/branches/b1/policy", admin, json=policy)
    assert response.status_code == 200, response.text
    stored = (await api.get("/branches/b1", admin)).json()["policy"]
    assert stored == response.json()
    assert stored["head_start_seconds"] == {"vip": 60.0, "care": 1200.0}
    assert stored["missed_grace_minutes"] == 10
    assert stored["auto_miss_after_recalls"] == 3
    assert stored["almost_turn_ahead"] == 5


async def test_a_care_ticket_with_a_head_start_is_called_before_an_earlier_normal_one(
    api: Api,
) -> None:
    admin = await admin_with_branch(api)
    await api.put("/branches/b1/policy", admin, json={"head_start_seconds": {"care": 600}})
    await api.issue(admin, service="A")
    api.clock.advance(60)
    care = await api.issue(admin, service="A", priority="care")
    await api.counter(admin, 1, "open")
    called = await api.counter(admin, 1, "call-next")
    assert called.json()["ticket"]["number"] == care["number"]
    assert called.json()["reason"] == "head_start"


BAD_POLICIES: list[dict[str, Any]] = [
    {"head_start_seconds": {"normal": 10}},
    {"head_start_seconds": {"vip": -1}},
    {"head_start_seconds": {"vip": 86401}},
    {"missed_grace_minutes": -1},
    {"missed_reinsert_places": 1001},
    {"appointment_late_action": "ignore"},
    {"strict": True},
]


async def test_a_bad_policy_is_refused_and_the_old_one_stays(api: Api) -> None:
    admin = await admin_with_branch(api)
    before = (await api.get("/branches/b1", admin)).json()["policy"]
    for policy in BAD_POLICIES:
        response = await api.put("/branches/b1/policy", admin, json=policy)
        assert response.status_code == 422, (policy, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.get("/branches/b1", admin)).json()["policy"] == before


# --------------------------------------------------------------------------------------------
# Services


async def test_a_service_is_added_read_changed_and_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    body = {
        "code": "C",
        "name": "理财咨询",
        "name_en": "Wealth advice",
        "sla_minutes": 20,
        "daily_quota": 50,
        "mean_service_minutes": 8,
        "materials": ["身份证"],
    }
    created = await api.post("/branches/b1/services", admin, json=body)
    assert created.status_code == 201, created.text
    not_paused = {
        "paused": False,
        "pause_reason": "",
        "pause_reason_en": "",
        "pause_notice_id": None,
    }
    assert created.json() == {**body, **not_paused}
    assert (await api.get("/branches/b1/services/C", admin)).json() == {**body, **not_paused}
    assert [s["code"] for s in (await api.get("/branches/b1/services", admin)).json()] == [
        "A",
        "B",
        "C",
    ]
    changed = await api.put("/branches/b1/services/C", admin, json={**body, "daily_quota": 1})
    assert changed.json()["daily_quota"] == 1
    await api.issue(admin, service="C")
    assert_error(
        await api.post("/branches/b1/tickets", admin, json={"service": "C"}), 409, "QuotaReached"
    )
    queue = (await api.get("/branches/b1/queue", admin)).json()
    assert next(s for s in queue["services"] if s["code"] == "C")["quota_left"] == 0


async def test_a_service_code_is_taken_once_and_cannot_change(api: Api) -> None:
    admin = await admin_with_branch(api)
    again = await api.post("/branches/b1/services", admin, json={"code": "A", "name": "again"})
    assert_error(again, 409, "AlreadyExists")
    renamed = await api.put("/branches/b1/services/A", admin, json={"code": "C", "name": "x"})
    assert_error(renamed, 422, "Invalid")
    assert (await api.get("/branches/b1/services/A", admin)).status_code == 200


async def test_an_unknown_service_is_404_and_a_malformed_code_422(api: Api) -> None:
    admin = await admin_with_branch(api)
    assert_error(await api.get("/branches/b1/services/Z", admin), 404, "NotFound")
    assert_error(await api.delete("/branches/b1/services/Z", admin), 404, "NotFound")
    body = {"code": "Z", "name": "x"}
    assert_error(await api.put("/branches/b1/services/Z", admin, json=body), 404, "NotFound")
    assert_error(await api.get("/branches/b1/services/a", admin), 422, "Invalid")
    assert_error(await api.get("/branches/b1/services/ABCD", admin), 422, "Invalid")


async def test_a_service_with_tickets_today_cannot_be_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    await api.post("/branches/b1/services", admin, json={"code": "C", "name": "C"})
    await api.issue(admin, service="C")
    assert_error(await api.delete("/branches/b1/services/C", admin), 409, "AlreadyExists")


async def test_a_service_that_a_counter_serves_cannot_be_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    refused = await api.delete("/branches/b1/services/B", admin)
    assert_error(refused, 422, "ConfigError")
    assert "Counter" in refused.json()["detail"]
    assert (await api.get("/branches/b1/services/B", admin)).status_code == 200


async def test_an_unused_service_is_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    await api.post("/branches/b1/services", admin, json={"code": "C", "name": "C"})
    assert (await api.delete("/branches/b1/services/C", admin)).status_code == 204
    assert_error(await api.get("/branches/b1/services/C", admin), 404)
    assert_error(await api.post("/branches/b1/tickets", admin, json={"service": "C"}), 404)


BAD_SERVICES: list[dict[str, Any]] = [
    {"code": "a", "name": "lower case"},
    {"code": "ABCD", "name": "four letters"},
    {"code": "C", "name": "  "},
    {"code": "C", "name": "x", "sla_minutes": 0},
    {"code": "C", "name": "x", "mean_service_minutes": -5},
    {"code": "C", "name": "x", "daily_quota": 0},
    {"code": "C", "name": "x", "materials": ["x"] * 51},
    {"code": "C", "name": "x", "materials": ["x" * 201]},
    {"code": "C", "name": "x", "name_en": "y" * 101},
    {"code": "C", "name": "bell \x07 character"},
    {"code": "C", "name": "x", "materials": ["nul \x00"]},
    {"code": "C", "name": "x", "prefix": "C"},
]


async def test_a_service_with_any_bad_field_is_refused_422(api: Api) -> None:
    admin = await admin_with_branch(api)
    for body in BAD_SERVICES:
        response = await api.post("/branches/b1/services", admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert_error(await api.get("/branches/b1/services/C", admin), 404)


# --------------------------------------------------------------------------------------------
# Counters


async def test_a_counter_is_added_read_changed_and_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    body = {"number": 3, "name": "VIP 窗口", "tiers": [["B"], ["A"]], "backup": 1}
    created = await api.post("/branches/b1/counters", admin, json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {**body, "state": "closed"}
    assert (await api.get("/branches/b1/counters/3", admin)).json() == created.json()
    changed = await api.put("/branches/b1/counters/3", admin, json={**body, "tiers": [["A"]]})
    assert changed.json()["tiers"] == [["A"]]
    queue = (await api.get("/branches/b1/queue", admin)).json()
    assert next(c for c in queue["counters"] if c["number"] == 3)["tiers"] == [["A"]]
    assert (await api.delete("/branches/b1/counters/3", admin)).status_code == 204
    assert_error(await api.get("/branches/b1/counters/3", admin), 404, "NotFound")


async def test_a_counter_number_is_taken_once_and_cannot_change(api: Api) -> None:
    admin = await admin_with_branch(api)
    again = await api.post("/branches/b1/counters", admin, json={"number": 1, "tiers": [["A"]]})
    assert_error(again, 409, "AlreadyExists")
    renumbered = await api.put(
        "/branches/b1/counters/1", admin, json={"number": 5, "tiers": [["A"]]}
    )
    assert_error(renumbered, 422, "Invalid")


async def test_an_open_counter_cannot_be_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    await api.counter(admin, 1, "open")
    assert_error(await api.delete("/branches/b1/counters/1", admin), 409, "AlreadyExists")
    await api.counter(admin, 1, "close")
    assert (await api.delete("/branches/b1/counters/1", admin)).status_code == 204


async def test_a_counter_named_as_a_backup_cannot_be_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    await api.post(
        "/branches/b1/counters", admin, json={"number": 3, "tiers": [["A"]], "backup": 1}
    )
    assert_error(await api.delete("/branches/b1/counters/1", admin), 422, "ConfigError")


MISFITTING_COUNTERS: list[dict[str, Any]] = [
    {"number": 3, "tiers": [["Z"]]},
    {"number": 3, "tiers": [["A"]], "backup": 9},
    {"number": 3, "tiers": [["A"]], "backup": 3},
    {"number": 3, "tiers": [["A"], ["A"]]},
]


async def test_a_counter_that_does_not_fit_the_branch_is_a_config_error(api: Api) -> None:
    admin = await admin_with_branch(api)
    for body in MISFITTING_COUNTERS:
        response = await api.post("/branches/b1/counters", admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "ConfigError")
    assert_error(await api.get("/branches/b1/counters/3", admin), 404)


BAD_COUNTERS: list[dict[str, Any]] = [
    {"number": 0, "tiers": [["A"]]},
    {"number": 10000, "tiers": [["A"]]},
    {"number": 3, "tiers": []},
    {"number": 3, "tiers": [[]]},
    {"number": 3, "tiers": [["A"]] * 11},
    {"number": 3, "tiers": [["a"]]},
    {"number": "three", "tiers": [["A"]]},
    {"number": 3, "tiers": [["A"]], "name": "\x1b[2J"},
    {"number": 3, "tiers": [["A"]], "state": "open"},
]


async def test_a_counter_with_any_bad_field_is_refused_422(api: Api) -> None:
    admin = await admin_with_branch(api)
    for body in BAD_COUNTERS:
        response = await api.post("/branches/b1/counters", admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert_error(await api.get("/branches/b1/counters/3", admin), 404)


async def test_counter_numbers_out_of_range_in_the_path_are_invalid(api: Api) -> None:
    admin = await admin_with_branch(api)
    for number in ("0", "10000", "x", str(2**64)):
        assert_error(await api.get(f"/branches/b1/counters/{number}", admin), 422, "Invalid")
        assert_error(await api.counter(admin, number, "open"), 422, "Invalid")


# --------------------------------------------------------------------------------------------
# Staff


async def test_staff_are_added_listed_changed_and_removed(api: Api) -> None:
    admin = await admin_with_branch(api)
    created = await api.post(
        "/branches/b1/staff",
        admin,
        json={
            "username": "li.na",
            "password": "long-enough",
            "role": "clerk",
            "display_name": "李娜",
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user == {
        "id": user["id"],
        "username": "li.na",
        "role": "clerk",
        "branch": "b1",
        "display_name": "李娜",
        "active": True,
    }
    assert "password" not in str((await api.get("/branches/b1/staff", admin)).json())
    assert await api.login("li.na", "long-enough")
    changed = await api.put(f"/branches/b1/staff/{user['id']}", admin, json={"display_name": "娜"})
    assert changed.json()["display_name"] == "娜"
    assert (await api.delete(f"/branches/b1/staff/{user['id']}", admin)).status_code == 204
    assert (await api.get("/branches/b1/staff", admin)).json() == []
    assert_error(await api.delete(f"/branches/b1/staff/{user['id']}", admin), 404, "NotFound")


async def test_a_username_is_taken_once(api: Api) -> None:
    admin = await admin_with_branch(api)
    body = {"username": "root", "password": "long-enough", "role": "clerk"}
    assert_error(await api.post("/branches/b1/staff", admin, json=body), 409, "AlreadyExists")


BAD_STAFF: list[dict[str, Any]] = [
    {"username": "ab", "password": "long-enough", "role": "clerk"},
    {"username": "has space", "password": "long-enough", "role": "clerk"},
    {"username": "x" * 65, "password": "long-enough", "role": "clerk"},
    {"username": "short-pw", "password": "1234567", "role": "clerk"},
    {"username": "long-pw", "password": "x" * 129, "role": "clerk"},
    {"username": "owner", "password": "long-enough", "role": "owner"},
    {"username": "nul", "password": "long-enough", "role": "clerk", "display_name": "\x00"},
    {"username": "extra", "password": "long-enough", "role": "clerk", "active": False},
]


async def test_staff_with_any_bad_field_are_refused_422(api: Api) -> None:
    admin = await admin_with_branch(api)
    for body in BAD_STAFF:
        response = await api.post("/branches/b1/staff", admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422, "Invalid")
    assert (await api.get("/branches/b1/staff", admin)).json() == []
