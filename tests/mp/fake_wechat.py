"""A fake WeChat API server, a real HTTP server on 127.0.0.1 started by the tests.

It answers ``code2Session`` (``/sns/jscode2session``), ``/cgi-bin/token`` and subscribe
messages (``/cgi-bin/message/subscribe/send``) as WeChat documents them, and a webhook receiver
(``/hook``). Each can be told to misbehave: answer an error code, an HTTP error, or too slowly.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_ID = "wx-test-app"
APP_SECRET = "wx-test-secret"


@dataclass
class FakeWeChat:
    url: str = ""
    # code2Session: code -> openid; "busy" for errcode -1, "bad" for 40029
    login_mode: str = "ok"  # ok | busy | bad | http500 | slow
    slow_seconds: float = 3.0
    # subscribe send: errcodes to answer before succeeding (popped one per call)
    send_failures: list[int] = field(default_factory=list)
    send_slow: bool = False
    tokens_issued: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    hook_failures: int = 0
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def code2session(self, request: Request) -> Response:
        params = request.query_params
        if params.get("appid") != APP_ID or params.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        if params.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        if self.login_mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.login_mode == "http500":
            return Response("upstream trouble", status_code=502)
        if self.login_mode == "busy":
            return JSONResponse({"errcode": -1, "errmsg": "system error"})
        if self.login_mode == "bad":
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        code = params.get("js_code", "")
        return JSONResponse({"openid": f"o-{code}", "session_key": "sk", "unionid": None})

    async def token(self, request: Request) -> Response:
        if request.query_params.get("appid") != APP_ID:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        self.tokens_issued += 1
        return JSONResponse({"access_token": f"token-{self.tokens_issued}", "expires_in": 7200})

    async def subscribe_send(self, request: Request) -> Response:
        if self.send_slow:
            await asyncio.sleep(self.slow_seconds)
        if not request.query_params.get("access_token", "").startswith("token-"):
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        if self.send_failures:
            return JSONResponse({"errcode": self.send_failures.pop(0), "errmsg": "failed"})
        self.sent.append(await request.json())
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if self.hook_failures > 0:
            self.hook_failures -= 1
            return Response("try later", status_code=503)
        self.hooks.append((dict(request.headers), body))
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/sns/jscode2session", self.code2session),
                Route("/cgi-bin/token", self.token),
                Route("/cgi-bin/message/subscribe/send", self.subscribe_send, methods=["POST"]),
                Route("/hook", self.hook, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def fake_wechat() -> AsyncIterator[FakeWeChat]:
    fake = FakeWeChat()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(1000):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "the fake WeChat server did not start"
    fake.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        yield fake
    finally:
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(serving, 30)
        listener.close()
