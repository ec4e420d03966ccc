"""Settings from the environment (prefix ``QUEUEHALL_``), with defaults that run on a fresh
machine: the embedded SQLite store in the working directory. See ``.env.example``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./queuehall.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUEUEHALL_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Token signing key. Empty: one is generated on first start and kept in the store.
    secret_key: str = ""
    access_token_minutes: int = 12 * 60
    device_token_days: int = 365
    # Browsers on these origins may call the API and open WebSockets; "*" allows any.
    allowed_origins: list[str] = Field(default_factory=lambda: ["http://localhost:8000"])
    # Public endpoints (ticket issue and look-up), per client address and per device.
    rate_limit_public: str = "60/minute"
    rate_limit_issue: str = "30/minute"
    login_attempts_before_delay: int = 5
    max_body_bytes: int = 64 * 1024
    # Group commit: at most this many commands share one transaction.
    max_batch: int = 512
    log_level: str = "info"
    # The address phones reach this server by (printed in ticket QR codes), e.g.
    # https://queue.example.cn. Empty: the address the kiosk itself used.
    public_url: str = ""
    # WebSockets (/ws/...): see .env.example.
    ws_hello_timeout_seconds: float = 10.0
    ws_ping_seconds: float = 25.0
    ws_silence_seconds: float = 60.0
    ws_max_message_bytes: int = 64 * 1024
    ws_max_replay: int = 10_000
    ws_outbound_queue: int = 4096
    ws_check_seconds: float = 1.0
    ws_credential_check_seconds: float = 2.0
    ws_ticket_update_seconds: float = 1.0
    ws_status_seconds: float = 1.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
