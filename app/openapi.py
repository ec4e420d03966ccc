"""An honest OpenAPI document: every error an operation can answer is declared, with its body.

FastAPI documents the success status and a 422 with its own ``HTTPValidationError`` body, which
is not what this app answers (``app.errors`` answers ``{"error", "detail"}``). :func:`install`
post-processes the generated document, so that the routes of every router, including ones added
later, are covered without a ``responses=`` on each decorator:

* every operation: 422 (invalid request) and 503 (the store did not answer), with ``ErrorBody``;
* an operation that takes a bearer credential: 401 and 403;
* an operation with path parameters: 404 (what they name does not exist, or is not yours);
* an operation that changes something (not GET): 409 (a conflict with the current state);
* an operation with a request body: 413 (larger than ``max_body_bytes``) and 400 (a body that
  cannot be decoded at all, e.g. not UTF-8; one that decodes but is not valid JSON is a 422).

What does not follow from the operation's shape is declared on its route with ``responses=``
(:data:`RATE_LIMITED`, :data:`REFUSED_CREDENTIAL`, :data:`NAMED_IN_BODY_NOT_FOUND`).
``tests/security/test_openapi.py`` checks the rules, and Schemathesis
(``tests/security/test_fuzz.py``) checks that no response falls outside the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

ERROR_SCHEMA = "ErrorBody"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}


class ErrorBody(BaseModel):
    """Every error's body: the error's name and a sentence saying what is wrong."""

    error: str
    detail: str


def _error(description: str, **headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: _error(
        "Too many requests from this address, device or account; retry after the given seconds.",
        **{"Retry-After": "Seconds to wait before trying again."},
    )
}
REFUSED_CREDENTIAL: dict[int | str, dict[str, Any]] = {
    401: _error("The credential (password or pairing code) is refused.")
}

NAMED_IN_BODY_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _error("What the body names (a branch, a slot, a service) does not exist.")
}

GENERIC = {
    "422": "The request is invalid: a sentence names the field and what is wrong.",
    "503": "The store did not answer; retry after the given seconds.",
}
AUTHENTICATED = {
    "401": "No valid bearer token (missing, expired, tampered, revoked or signed out).",
    "403": "The caller's role, device kind or branch does not allow this.",
}
NOT_FOUND = "What the path names does not exist (or not at the caller's branch)."
CONFLICT = "The change conflicts with the current state."
TOO_LARGE = "The request body is larger than the configured limit (max_body_bytes)."
UNREADABLE = "The body cannot be parsed (not UTF-8, or not of its declared media type)."


def declare_errors(document: dict[str, Any]) -> None:
    """Add the error responses each operation can give (see the module docstring), in place."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "title": "Error"},
            "detail": {"type": "string", "title": "Detail"},
        },
    }
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            errors = dict(GENERIC)
            if operation.get("security"):
                errors.update(AUTHENTICATED)
            if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                errors["404"] = NOT_FOUND
            if method != "get":
                errors["409"] = CONFLICT
            if "requestBody" in operation:
                errors["400"] = UNREADABLE
                errors["413"] = TOO_LARGE
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                declared = responses.get(status)
                if declared is None or _is_fastapi_validation_error(declared):
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    }
    # FastAPI's own validation error bodies are never sent: drop them unless something uses them.
    text = repr(document.get("paths"))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            schemas.pop(unused, None)


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with every operation's errors declared."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(generate())
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
