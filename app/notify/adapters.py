"""Where notifications go. An adapter's ``send`` returns when the message was accepted and
raises :class:`DeliveryFailed` otherwise (the sender retries it later). Each message carries
its outbox id, so that a receiver can drop a repeat after a crash between send and record.

* :class:`LogAdapter`: writes the message to the server's log (development).
* :class:`WebhookAdapter`: ``POST`` of the JSON message to a URL, signed with HMAC-SHA256:
  ``X-Queuehall-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`` and
  ``X-Queuehall-Timestamp``, ``X-Queuehall-Delivery: <outbox id>``. Any 2xx is success.
* :class:`WeChatSubscribeAdapter`: WeChat subscribe messages
  (``POST {base}/cgi-bin/message/subscribe/send?access_token=…``), with the access token from
  ``GET {base}/cgi-bin/token`` kept until shortly before it expires and dropped when WeChat
  says it is no longer valid. A kind without a template id is skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from .messages import text

log = logging.getLogger("queuehall.notify")
TOKEN_INVALID = frozenset({40001, 40014, 42001})


class DeliveryFailed(Exception):
    """The message was not delivered; it will be retried."""


class Skipped(Exception):
    """This adapter does not send this kind of message; it is not retried."""


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    branch_id: str | None
    customer_id: int | None
    openid: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        zh, en = text(self.kind, self.payload)
        return {
            "id": self.id,
            "kind": self.kind,
            "branch": self.branch_id,
            "customer": self.customer_id,
            "text": zh,
            "text_en": en,
            "data": self.payload,
        }


class Adapter(Protocol):
    async def send(self, message: Message) -> None: ...


class LogAdapter:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        zh, _ = text(message.kind, message.payload)
        log.info("notify %s to customer %s: %s", message.kind, message.customer_id, zh)
        self.sent.append(message)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookAdapter:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.transport = transport

    async def send(self, message: Message) -> None:
        body = json.dumps(message.body(), ensure_ascii=False, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Queuehall-Timestamp": timestamp,
            "X-Queuehall-Delivery": str(message.id),
            "X-Queuehall-Signature": signature(self.secret, timestamp, body),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"webhook unreachable: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")


class WeChatSubscribeAdapter:
    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        template_ids: dict[str, str],
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Any = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret
        self.template_ids = template_ids
        self.timeout = timeout
        self.transport = transport
        self.clock = clock
        self._token: tuple[str, float] | None = None

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
        try:
            response = await client.request(method, f"{self.base_url}{path}", **kw)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"WeChat unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise DeliveryFailed(f"WeChat answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise DeliveryFailed("WeChat answered something that is not JSON") from None

    async def _access_token(self, client: httpx.AsyncClient) -> str:
        if self._token is not None and self._token[1] > self.clock():
            return self._token[0]
        payload = await self._call(
            client,
            "GET",
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self.app_secret,
            },
        )
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise DeliveryFailed(f"WeChat gave no access token ({payload.get('errcode')})")
        lifetime = float(payload.get("expires_in") or 7200)
        self._token = (token, self.clock() + max(0.0, lifetime - 300))
        return token

    async def send(self, message: Message) -> None:
        template = self.template_ids.get(message.kind)
        if not template:
            raise Skipped(f"no WeChat template for {message.kind}")
        if not message.openid:
            raise Skipped("the customer has no WeChat openid")
        zh, _ = text(message.kind, message.payload)
        data = {
            "thing1": {"value": zh[:20]},
            "character_string2": {
                "value": str(message.payload.get("number") or message.payload.get("booking") or "")[
                    :32
                ]
            },
        }
        body = {
            "touser": message.openid,
            "template_id": template,
            "page": "pages/index/index",
            "data": data,
        }
        async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
            token = await self._access_token(client)
            payload = await self._call(
                client,
                "POST",
                "/cgi-bin/message/subscribe/send",
                params={"access_token": token},
                json=body,
            )
        errcode = int(payload.get("errcode") or 0)
        if errcode in TOKEN_INVALID:
            self._token = None
        if errcode == 43101:  # the customer did not subscribe to this message
            raise Skipped("the customer has not subscribed to this message")
        if errcode != 0:
            raise DeliveryFailed(f"WeChat refused the message ({errcode})")


def adapter_from_settings(settings: Any) -> Adapter:
    name = settings.notify_adapter
    if name == "log":
        return LogAdapter()
    if name == "webhook":
        return WebhookAdapter(
            settings.notify_webhook_url,
            settings.notify_webhook_secret,
            timeout=settings.wechat_timeout_seconds,
        )
    if name == "wechat":
        return WeChatSubscribeAdapter(
            settings.wechat_api_base,
            settings.wechat_app_id,
            settings.wechat_app_secret,
            dict(settings.wechat_template_ids),
            timeout=settings.wechat_timeout_seconds,
        )
    raise ValueError(f"QUEUEHALL_NOTIFY_ADAPTER is {name!r}; use 'log', 'webhook' or 'wechat'.")
