"""A test-session-wide privacy scan (installed by ``tests/conftest.py``).

Everything a screen, a customer or the logs can see is scanned while the tests run:

* HTTP responses of public and display routes (the customer's ticket and its rating, the queue
  and branch views that lobby screens and kiosks read, screen pages, health and metrics), from
  any ``httpx`` client of the tests (in-process or against a real server);
* every message a test's WebSocket client receives on a lobby display or customer socket;
* every log record emitted during the session (the app's loggers, uvicorn's and the rest).

What is looked for: a Chinese mobile number (``1[3-9]`` and 9 digits), an 18-digit resident ID
number (身份证), the customer names the tests use (:data:`CUSTOMER_NAMES`), and, in logs and on
display routes, a customer's ticket token (a credential: whoever holds it may cancel the
ticket). Staff views (cases, staff lists, ratings lists) are the owner's and are not scanned.

The scan costs one regular expression per response body; a finding fails the session (the
fixture's teardown), naming where it was seen.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

# Names the tests give customers (in case descriptions and notes, bookings and mini-program
# profiles): they must never reach a public or display payload, nor a log.
CUSTOMER_NAMES = ("张三丰", "李秀英", "欧阳娜娜", "张三", "李四")
# Not part of a longer number, nor the fraction of a decimal (timings in /metrics).
PHONE = re.compile(r"(?<![\d.])1[3-9]\d{9}(?!\d)")
# 身份证: region (6 digits), birth date, sequence (3), check digit or X.
ID_NUMBER = re.compile(
    r"(?<![\d.])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"
)
NAMES = re.compile("|".join(map(re.escape, sorted(CUSTOMER_NAMES, key=len, reverse=True))))

# Routes whose answers a screen, a kiosk, a customer or anyone may read (method-independent);
# a check-in's answer is shown on the kiosk, with the customer masked.
PUBLIC_OR_DISPLAY = re.compile(
    r"^(?:/api/v1/tickets/|/api/v1/branches/[^/]+(?:/queue|/services|/counters/\d+/rating)?/?$"
    r"|/api/v1/branches/[^/]+/check-in$|/screens/|/t/|/healthz|/readyz|/metrics)"
)
# Routes whose answers go to screens that many people see: no ticket token may appear there.
DISPLAY = re.compile(r"^/api/v1/branches/[^/]+(?:/queue|/services)?/?$|^/metrics")
# Sockets read by lobby screens or customers (a counter terminal and the dashboard are staff
# views: the clerk's own outcome notes reach the counter terminal).
SCANNED_SOCKETS = re.compile(r"^/ws/(?:branches/[^/]+/display|tickets/)")
TICKET_PATH_TOKEN = re.compile(r"/(?:tickets|t|ws/tickets)/([A-Za-z0-9_-]{16,64})")


@dataclass
class PrivacyScan:
    findings: list[str] = field(default_factory=list)
    scanned: int = 0
    tokens: set[str] = field(default_factory=set)

    def personal_data(self, text: str) -> list[str]:
        found = []
        for kind, pattern in (("phone", PHONE), ("ID number", ID_NUMBER), ("name", NAMES)):
            found += [f"{kind} {match}" for match in pattern.findall(text)]
        return found

    def scan(self, where: str, text: str, *, display: bool = False) -> None:
        self.scanned += 1
        found = self.personal_data(text)
        if display:
            found += [f"ticket token {t[:6]}…" for t in self.tokens if t in text]
        if found:
            self.findings.append(f"{where}: {', '.join(found)}: {text[:300]!r}")

    def response(self, method: str, path: str, text: str) -> None:
        if PUBLIC_OR_DISPLAY.match(path):
            self.scan(f"{method} {path}", text, display=bool(DISPLAY.match(path)))

    def socket_message(self, path: str, text: str) -> None:
        if SCANNED_SOCKETS.match(path):
            self.scan(f"WebSocket {path}", text, display="/display" in path)

    def remember_token(self, token: object) -> None:
        if isinstance(token, str) and 16 <= len(token) <= 64:
            self.tokens.add(token)


class ScanningHandler(logging.Handler):
    """Scans every log record of the session, tokens in paths included."""

    def __init__(self, scan: PrivacyScan) -> None:
        super().__init__(logging.DEBUG)
        self.privacy = scan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return
        if record.exc_text:
            text += record.exc_text
        found = self.privacy.personal_data(text)
        found += [f"ticket token {t[:6]}…" for t in TICKET_PATH_TOKEN.findall(text)]
        if found:
            self.privacy.findings.append(f"log {record.name}: {', '.join(found)}: {text[:300]!r}")


SCAN = PrivacyScan()
