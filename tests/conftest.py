"""Session-wide fixtures of every test tier: the privacy scan (``tests/privacy.py``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.privacy import SCAN, PrivacyScan, ScanningHandler

ISSUE = re.compile(r"^/api/v1/branches/[^/]+/tickets$")


@pytest.fixture(scope="session", autouse=True)
def privacy_scan() -> Iterator[PrivacyScan]:
    """Scan public and display answers, screens' socket messages and every log record of the
    session for personal data; fail the session (at its last test) on any finding."""
    original_send = httpx.AsyncClient.send
    original_recv = ClientConnection.recv

    async def send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        response = await original_send(self, request, **kwargs)
        if kwargs.get("stream"):
            return response
        path = request.url.path
        if response.status_code == 201 and ISSUE.match(path):
            SCAN.remember_token(response.json().get("token"))
        SCAN.response(request.method, path, response.text)
        return response

    async def recv(self: ClientConnection, *args: Any, **kwargs: Any) -> Any:
        message = await original_recv(self, *args, **kwargs)
        path = self.request.path if self.request is not None else ""
        text = message if isinstance(message, str) else bytes(message).decode(errors="replace")
        SCAN.socket_message(path, text)
        return message

    handler = ScanningHandler(SCAN)
    root = logging.getLogger()
    root.addHandler(handler)
    httpx.AsyncClient.send = send  # type: ignore[method-assign]
    ClientConnection.recv = recv  # type: ignore[method-assign]
    try:
        yield SCAN
    finally:
        httpx.AsyncClient.send = original_send  # type: ignore[method-assign]
        ClientConnection.recv = original_recv  # type: ignore[method-assign]
        root.removeHandler(handler)
    assert not SCAN.findings, "personal data or tokens left unmasked:\n" + "\n".join(
        SCAN.findings[:20]
    )
