"""Request bodies on every operation that takes one, found by walking the OpenAPI document (so
that new routes are covered): a body over ``max_body_bytes`` is refused 413 with a sentence,
whether announced by Content-Length or streamed in chunks without one; an unknown field is a
422 naming it; a body that is not UTF-8 is a 400 or 422 with the error body, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from app.auth import Role
from tests.api.conftest import Api, assert_error, make_branch, running_app

LIMIT = 2048
VALUES = {"branch": "b1", "code": "A", "number": "1", "user_id": "1", "device_id": "1"}
VALUES |= {"case_id": "1", "token": "x" * 32}


@pytest.fixture
async def small(migrated: str) -> AsyncIterator[Api]:
    async with running_app(migrated, max_body_bytes=LIMIT) as api:
        yield api


def operations_with_a_body(document: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(method, path with real values, media type) of every operation that takes a body (a
    path parameter of a route added later gets "1")."""
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for media in operation.get("requestBody", {}).get("content", {}):
                yield (
                    method.upper(),
                    re.sub(r"\{(\w+)\}", lambda m: VALUES.get(m[1], "1"), path),
                    media,
                )


async def admin_at_b1(api: Api) -> dict[str, str]:
    admin = await api.user("root", Role.ADMIN, None)
    await make_branch(api, admin)
    return admin


async def credentials(api: Api) -> Callable[[str], dict[str, str]]:
    """The credential each path takes: a mini-program customer's session on ``/mp/`` routes
    (so that their bodies are read, not refused 401 first), an administrator elsewhere."""
    admin = await admin_at_b1(api)
    login = await api.post("/mp/login", None, json={"code": "bodies"})
    assert login.status_code == 200, login.text
    customer = {"Authorization": f"Bearer {login.json()['token']}"}
    return lambda path: customer if path.startswith("/api/v1/mp/") else admin


def oversized(media: str) -> bytes:
    if media == "application/json":
        return b'{"name": "' + b"x" * (LIMIT + 1) + b'"}'
    return b"username=root&password=" + b"x" * (LIMIT + 1)


async def test_every_body_over_the_limit_is_refused_413_announced_or_streamed(small: Api) -> None:
    admin = await admin_at_b1(small)
    document = (await small.client.get("/openapi.json")).json()
    checked = 0
    for method, path, media in operations_with_a_body(document):
        body = oversized(media)
        headers = {**admin, "Content-Type": media}
        announced = await small.client.request(method, path, headers=headers, content=body)
        assert_error(announced, 413, "BodyTooLarge")
        assert f"larger than {LIMIT} bytes" in announced.json()["detail"]

        async def chunks(body: bytes = body) -> AsyncIterator[bytes]:
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        streamed = await small.client.request(method, path, headers=headers, content=chunks())
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "BodyTooLarge")
        checked += 1
    assert checked >= 20
    # Nothing of it was done.
    assert (await small.get("/branches/b1/queue", admin)).json()["waiting"] == 0


async def test_an_unknown_field_is_refused_422_on_every_operation(api: Api) -> None:
    credential = await credentials(api)
    document = (await api.client.get("/openapi.json")).json()
    for method, path, media in operations_with_a_body(document):
        headers = {**credential(path), "Content-Type": media}
        if media == "application/json":
            content = b'{"smuggled_field": 1}'
        else:
            content = b"username=root&password=x&smuggled_field=1"
        response = await api.client.request(method, path, headers=headers, content=content)
        assert_error(response, 422, "Invalid")
        assert "smuggled_field" in response.json()["detail"], (method, path, response.text)


async def test_a_body_that_is_not_utf8_is_a_client_error_on_every_operation(api: Api) -> None:
    credential = await credentials(api)
    document = (await api.client.get("/openapi.json")).json()
    for method, path, media in operations_with_a_body(document):
        headers = {**credential(path), "Content-Type": media}
        response = await api.client.request(method, path, headers=headers, content=b"\xff\xfe\xfa")
        assert response.status_code in (400, 422), (method, path, response.text)
        assert_error(response, response.status_code)
        if media == "application/json":  # a form's bytes are read as Latin-1: its fields
            assert "UTF-8" in response.json()["detail"], (method, path, response.text)
