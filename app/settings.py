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
    # Failed sign-ins per client address (password spraying over many accounts); each account
    # also slows down after its own failures (login_attempts_before_delay).
    rate_limit_login_failures: str = "30/minute"
    # Booking creation (mini-program and staff) and phone tickets, per client address and per
    # customer identity (mini-program customer, or the phone staff book for).
    rate_limit_booking_address: str = "30/minute"
    rate_limit_booking_customer: str = "5/minute"
    # Check-in by booking code with a code that names no booking (code guessing), per client
    # address and per device or staff member; a limit reached refuses every check-in there
    # (429) before the code is looked up, so that a right guess past it is refused too.
    rate_limit_check_in_failures: str = "20/minute"
    login_attempts_before_delay: int = 5
    max_body_bytes: int = 64 * 1024
    # PostgreSQL only: how long connecting, and any one statement, may take before the request
    # is answered 503 (a silent network would otherwise hold it for minutes). A commit that
    # times out is answered after about twice the statement limit (tests/reliability/
    # test_silent_network.py).
    store_connect_timeout_seconds: float = 2.0
    store_command_timeout_seconds: float = 1.0
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
    # Appointments and the mini-program (issue #5): see .env.example.
    mp_identity_provider: str = "dev"
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_timeout_seconds: float = 5.0
    wechat_template_ids: dict[str, str] = Field(default_factory=dict)
    customer_token_days: int = 30
    notify_adapter: str = "log"
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""
    notify_max_attempts: int = 8
    notify_backoff_seconds: float = 5.0
    appointments_tick_seconds: float = 30.0
    retention_booking_days: float = 90.0
    retention_ticket_days: float = 30.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
