"""The OpenAPI document is honest and every input is bounded, checked by walking the document of
the app as built, so that routes added by any router are covered without a row here.

* Every route the server answers is in the document, or is one of the listed non-API routes
  (screen pages, WebSockets, static files, the document itself).
* Every request body refuses unknown fields (``additionalProperties: false``), and every string,
  list, mapping and integer in a body or a parameter is bounded (``maxLength`` or an enum, a
  ``maxItems``, a ``maxProperties``, a ``maximum``), so no request can make the server hold or
  store more than the schema says.
* Every operation declares the errors it can answer, with the ``{"error", "detail"}`` body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.security.routes import served_routes

# Routes outside the API document, each with the reason it is not in it.
NOT_IN_DOCUMENT: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "the document itself",
    ("GET", "/docs"): "FastAPI's page for the document",
    ("GET", "/docs/oauth2-redirect"): "FastAPI's page for the document",
    ("GET", "/redoc"): "FastAPI's page for the document",
    ("GET", "/screens/display/{branch}"): "a screen page (HTML)",
    ("GET", "/screens/counter/{branch}/{number}"): "a screen page (HTML)",
    ("GET", "/screens/kiosk/{branch}"): "a screen page (HTML)",
    ("GET", "/screens/evaluator/{branch}/{number}"): "a screen page (HTML)",
    ("GET", "/screens/dashboard/{branch}"): "a screen page (HTML)",
    ("GET", "/screens/reports/{branch}"): "a screen page (HTML)",
    ("GET", "/t/{token}"): "the customer's ticket page (HTML)",
    ("GET", "/t/{token}/qr.svg"): "the ticket's QR code (SVG)",
    ("MOUNT", "/screens/static"): "the screens' scripts and styles",
    ("WEBSOCKET", "/ws/branches/{branch}/display"): "WebSocket: docs/realtime.md",
    ("WEBSOCKET", "/ws/branches/{branch}/counters/{number}"): "WebSocket: docs/realtime.md",
    ("WEBSOCKET", "/ws/branches/{branch}/dashboard"): "WebSocket: docs/realtime.md",
    ("WEBSOCKET", "/ws/tickets/{token}"): "WebSocket: docs/realtime.md",
}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Settings(secret_key="x" * 40))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_route_the_server_answers_is_documented_or_listed(
    app: FastAPI, document: dict[str, Any]
) -> None:
    undocumented = served_routes(app) - documented_routes(document)
    assert undocumented == set(NOT_IN_DOCUMENT)


def test_every_documented_operation_is_served(app: FastAPI, document: dict[str, Any]) -> None:
    assert documented_routes(document) <= served_routes(app)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def unbounded(document: dict[str, Any], schema: dict[str, Any], where: str) -> Iterator[str]:
    """Every place in ``schema`` that is not bounded (see the module docstring)."""
    schema = resolve(document, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for index, option in enumerate(schema.get(key, ())):
            yield from unbounded(document, option, f"{where}[{key} {index}]")
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return
    if kind == "string" and "maxLength" not in schema:
        yield f"{where}: a string without maxLength"
    elif kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: a list without maxItems"
        yield from unbounded(document, schema.get("items", {}), f"{where}[]")
    elif kind == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
        yield f"{where}: an integer without maximum"
    elif kind == "object" or "properties" in schema:
        extra = schema.get("additionalProperties", True)
        if extra is True:
            yield f"{where}: an object that takes unknown fields"
        elif isinstance(extra, dict):
            if "maxProperties" not in schema:
                yield f"{where}: a mapping without maxProperties"
            yield from unbounded(document, extra, f"{where}{{}}")
        for name, field in schema.get("properties", {}).items():
            yield from unbounded(document, field, f"{where}.{name}")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_request_body_refuses_unknown_fields_and_bounds_every_value(
    document: dict[str, Any],
) -> None:
    problems = []
    bodies = 0
    for label, operation in operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            bodies += 1
            problems += unbounded(document, content["schema"], f"{label} {media} body")
    assert bodies >= 20
    assert not problems, "\n".join(problems)


def test_every_parameter_is_bounded(document: dict[str, Any]) -> None:
    problems = []
    for label, operation in operations(document):
        for parameter in operation.get("parameters", ()):
            where = f"{label} {parameter['in']} {parameter['name']}"
            problems += unbounded(document, parameter["schema"], where)
    assert not problems, "\n".join(problems)


def test_every_operation_declares_its_errors_with_the_error_body(
    document: dict[str, Any],
) -> None:
    problems = []
    for label, operation in operations(document):
        responses = operation["responses"]
        method, path = label.split(" ", 1)
        expected = {"422", "503"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if re.search(r"\{\w+\}", path):
            expected.add("404")
        if method != "GET":
            expected.add("409")
        if "requestBody" in operation:
            expected |= {"400", "413"}
        missing = expected - set(responses)
        if missing:
            problems.append(f"{label}: {sorted(missing)} not declared")
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                if schema != {"$ref": "#/components/schemas/ErrorBody"}:
                    problems.append(f"{label} {status}: {schema}")
    assert not problems, "\n".join(problems)


def test_fastapis_validation_error_body_is_not_in_the_document(document: dict[str, Any]) -> None:
    """The app answers 422 with ``{"error", "detail"}``, never FastAPI's list of errors."""
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ErrorBody" in document["components"]["schemas"]
