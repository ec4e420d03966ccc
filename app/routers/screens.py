"""The screens, served by the app itself (halls are often offline from the internet, so nothing
comes from a CDN): lobby display, counter terminal, kiosk, evaluator, the customer's ticket
page, and the managers' live dashboard and reports (charts by Chart.js, bundled in
``static/vendor``).

Each page is one static HTML file with its script and style under ``app/screens/static``; the
page reads its branch, counter or ticket token from its own address and talks to the REST API
and the WebSockets like any other client. The only thing computed here is the ticket's QR code
(``segno``), so that a kiosk prints a code that a phone opens as ``/t/{token}``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import segno
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from app.deps import ServicesDep
from app.errors import NotFound
from app.routers.tickets import Token, client_address

STATIC = Path(__file__).parents[1] / "screens" / "static"
STATIC_PREFIX = "/screens/static"

router = APIRouter(include_in_schema=False)

Branch = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Number = Annotated[int, PathParam(ge=1, le=9999)]
# Pages change with each release; a hall's browsers must not keep an old one for days.
NO_CACHE = {"Cache-Control": "no-cache"}
# The pages load only their own scripts and talk only to this server; the ticket page's address
# holds the customer's token, which no Referer may carry elsewhere.
PAGE_HEADERS = {
    **NO_CACHE,
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)


def known_branch(services: ServicesDep, branch: str) -> None:
    services.halls.get(branch)  # NotFound for a mistyped address, before the page loads


@router.get("/screens/display/{branch}")
async def display(branch: Branch, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("display.html")


@router.get("/screens/counter/{branch}/{number}")
async def counter(branch: Branch, number: Number, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("counter.html")


@router.get("/screens/kiosk/{branch}")
async def kiosk(branch: Branch, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("kiosk.html")


@router.get("/screens/evaluator/{branch}/{number}")
async def evaluator(branch: Branch, number: Number, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("evaluator.html")


@router.get("/screens/dashboard/{branch}")
async def dashboard(branch: Branch, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("dashboard.html")


@router.get("/screens/reports/{branch}")
async def reports(branch: Branch, services: ServicesDep) -> FileResponse:
    known_branch(services, branch)
    return page("reports.html")


@router.get("/t/{token}")
async def ticket(token: Token) -> FileResponse:
    # The page itself says "no such ticket": the token is checked by the API it calls.
    return page("ticket.html")


def ticket_url(request: Request, public_url: str, token: str) -> str:
    """The address a phone opens: the configured public address of the server, else the one
    the kiosk reached it by."""
    base = public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")
    return f"{base}/t/{token}"


@router.get("/t/{token}/qr.svg")
async def ticket_qr(token: Token, services: ServicesDep, request: Request) -> Response:
    await services.limiter.check(
        services.settings.rate_limit_public, "lookup-ip", client_address(request)
    )
    if services.halls.ticket_by_token(token) is None:
        raise NotFound("No ticket has this link; it may be from an earlier day.")
    code = segno.make(ticket_url(request, services.settings.public_url, token), error="m")
    svg = io.BytesIO()
    code.save(svg, kind="svg", scale=1, border=4, xmldecl=False, svgns=True, unit="mm")
    return Response(svg.getvalue(), media_type="image/svg+xml", headers=NO_CACHE)
