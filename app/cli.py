"""The ``queuehall`` command line.

Subcommands (one function each, registered in :func:`build_parser`):

* ``simulate``: run a scenario through the queue engine on a virtual clock and report the waits
  (see ``docs/simulator.md``).
* ``migrate``: bring the store named by ``QUEUEHALL_DATABASE_URL`` to the current schema.
* ``serve``: migrate, then run the HTTP server (uvicorn) with the app of
  :func:`app.main.create_app`; ``--demo`` creates the demo branch first when it is missing.
* ``createadmin``: a staff account that administers every branch.
* ``demo``: the demo branch with a manager and a clerk, and how to sign in; safe to run twice.

``createadmin`` and ``demo`` never change the schema: on a store that is not migrated they say so
and stop. The server stack (FastAPI, SQLAlchemy, uvicorn) is imported only by the commands that
use it, so that ``simulate`` starts quickly.

Exit status: 0 on success; 1 when the command could not be done (the store cannot be reached or
refuses, the username is taken); 2 on bad usage, a bad setting or a bad scenario. Failures print
one sentence on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import getpass
import json
import logging
import re
import signal
import sys
import threading
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.queue_engine.simulator import (
    ScenarioError,
    SimulationResult,
    WaitSummary,
    simulate,
)

if TYPE_CHECKING:
    from app.bootstrap import DemoAccounts
    from app.db.store import Store
    from app.settings import Settings

PROG = "queuehall"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# The same rules as staff accounts made through the API (app/routers/branches.py).
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")
PASSWORD_LENGTHS = range(8, 129)
# The drivers the store is written for (app/db/session.py).
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")


class CommandFailed(Exception):
    """A command cannot do what was asked; ``message`` is one sentence for the operator."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``queuehall`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CommandFailed as error:
        return fail(error.message, error.status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Queuehall: take-a-number and call-next queues for service halls.",
        epilog="Settings come from QUEUEHALL_* environment variables (see .env.example).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    simulate_parser = commands.add_parser(
        "simulate",
        help="try a calling policy on synthetic customers",
        description=(
            "Run a scenario (services, counters, arrival rates, policy) through the queue "
            "engine on a virtual clock and report the waits. The scenario format is described "
            "in docs/simulator.md."
        ),
    )
    simulate_parser.add_argument(
        "--scenario", required=True, type=Path, metavar="FILE.json", help="the scenario file"
    )
    simulate_parser.add_argument(
        "--seed", type=int, default=1, help="random seed; same seed, same figures (default 1)"
    )
    simulate_parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    simulate_parser.set_defaults(handler=run_simulate)

    serve_parser = commands.add_parser(
        "serve",
        help="apply the migrations, then run the server",
        description=(
            "Bring the store named by QUEUEHALL_DATABASE_URL to the current schema, then serve "
            "the HTTP API until SIGTERM or Ctrl-C."
        ),
    )
    serve_parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    serve_parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    serve_parser.add_argument(
        "--demo",
        action="store_true",
        help="create the demo branch first when it is missing, and print how to sign in",
    )
    serve_parser.set_defaults(handler=run_serve)

    migrate_parser = commands.add_parser(
        "migrate",
        help="bring the store to the current schema",
        description="Apply the database migrations to the store named by QUEUEHALL_DATABASE_URL.",
    )
    migrate_parser.set_defaults(handler=run_migrate)

    admin_parser = commands.add_parser(
        "createadmin",
        help="add an administrator of every branch",
        description="Add a staff account with the admin role for every branch.",
    )
    admin_parser.add_argument("username", help="3 to 64 characters: letters, digits and _ . @ -")
    admin_parser.add_argument(
        "--password", help="8 to 128 characters; asked for (twice) when left out"
    )
    admin_parser.set_defaults(handler=run_createadmin)

    demo_parser = commands.add_parser(
        "demo",
        help="create the demo branch and print how to sign in",
        description=(
            "Create the demo branch (services A, B, C; counters 1 to 4) with a manager and a "
            "clerk, and print their passwords. Running it again changes nothing."
        ),
    )
    demo_parser.add_argument(
        "--url",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="the server's address in the printed links (default %(default)s)",
    )
    demo_parser.set_defaults(handler=run_demo)
    return parser


# --------------------------------------------------------------------------------------------
# simulate


def run_simulate(args: argparse.Namespace) -> int:
    path: Path = args.scenario
    try:
        scenario = load_scenario(path)
        result = simulate(scenario, seed=args.seed)
    except ScenarioError as error:
        return fail(f"{path}: {error.detail}")
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_report(result, scenario_name=path.name))
    return EXIT_OK


def load_scenario(path: Path) -> Any:
    """The parsed JSON of a scenario file; unreadable or malformed → :class:`ScenarioError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such scenario file.") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise ScenarioError(f"cannot read the scenario file ({reason}).") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(
            f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None


def fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return status


def format_report(result: SimulationResult, *, scenario_name: str = "") -> str:
    """A readable table of a simulation's figures (waits in minutes)."""
    head = f"{result.hours:g} h of arrivals, drained after {result.span_hours:.2f} h"
    title = f"Simulation {scenario_name} · seed {result.seed} · {head}".replace("  ", " ")
    header = ("", "issued", "served", "no-show", "mean", "p50", "p90", "max")
    rows: list[tuple[str, ...]] = []
    for name, summary in result.classes.items():
        rows.append(_row(f"class {name}", summary))
    for code, summary in result.services.items():
        rows.append(_row(f"service {code} {result.service_names[code]}", summary))
    rows.append(_row("overall", result.overall))
    widths = [max(_width(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [title, "", "Waits in minutes (served tickets; wait = first call − issue)."]
    for row in (header, *rows):
        cells = [_pad(row[0], widths[0], left=True)]
        cells += [_pad(cell, width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.append(f"Counter utilisation {result.utilization:.1%} overall; per counter:")
    lines.append(
        "  "
        + ", ".join(
            f"{number}: {counter.utilization:.0%} ({counter.served} served)"
            for number, counter in result.counters.items()
        )
    )
    eta = result.eta
    if eta.mae_min is not None and eta.naive_mae_min is not None:
        lines.append(
            f"Wait announced at issue, mean absolute error: engine {eta.mae_min:.2f} min, "
            f"naive (ahead × mean ÷ counters) {eta.naive_mae_min:.2f} min."
        )
    return "\n".join(lines)


def _row(label: str, summary: WaitSummary) -> tuple[str, ...]:
    return (
        label,
        str(summary.issued),
        str(summary.served),
        str(summary.no_show),
        _minutes(summary.wait_mean_min),
        _minutes(summary.wait_p50_min),
        _minutes(summary.wait_p90_min),
        _minutes(summary.wait_max_min),
    )


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _width(text: str) -> int:
    """Terminal columns: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, *, left: bool = False) -> str:
    padding = " " * (width - _width(text))
    return text + padding if left else padding + text


# --------------------------------------------------------------------------------------------
# migrate, serve, createadmin, demo


def port_number(text: str) -> int:
    port = int(text) if text.isdigit() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return port


def run_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    revision = migrate_store(settings.database_url)
    print(f"The store {shown_url(settings.database_url)} is at the current schema ({revision}).")
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.config import LOG_LEVELS

    from app.bootstrap import seed_demo
    from app.main import create_app

    settings = load_settings()
    level = settings.log_level.lower()
    if level not in LOG_LEVELS:
        raise CommandFailed(
            f"QUEUEHALL_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
            f"not {settings.log_level!r}.",
            EXIT_USAGE,
        )
    revision = migrate_store(settings.database_url)
    base_url = browser_url(args.host, args.port)
    if args.demo:
        print(demo_report(on_store(settings.database_url, seed_demo), base_url) + "\n")
    print(
        f"Store {shown_url(settings.database_url)} at schema {revision}; "
        f"serving on {base_url} (stop with Ctrl-C).",
        flush=True,
    )
    with stopping_on_request_succeeds():
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level=level,
            log_config=log_config(level),
            # Stop within Docker's default 10 s grace even if a client keeps a connection open.
            timeout_graceful_shutdown=8,
            # WebSockets: refuse big frames before buffering them (1009); no per-message
            # compression, which would cost a zlib pass per screen for every small event.
            ws_max_size=settings.ws_max_message_bytes,
            ws_per_message_deflate=False,
        )
    return EXIT_OK


@contextmanager
def stopping_on_request_succeeds() -> Iterator[None]:
    """Make a graceful stop on SIGTERM or Ctrl-C end the command with status 0.

    uvicorn shuts down on these signals, then raises the signal again for the handlers it found:
    by default a KeyboardInterrupt traceback, or death by SIGTERM (status 143 in Docker). A
    requested stop is a success, as Docker and systemd expect; these handlers ignore the repeat.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, lambda _signal, _frame: None) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def run_createadmin(args: argparse.Namespace) -> int:
    from app.auth import Role
    from app.bootstrap import UserExists, create_user

    username: str = args.username
    if not USERNAME.fullmatch(username):
        raise CommandFailed(
            f"a username is 3 to 64 letters, digits or _ . @ - characters, and {username!r} "
            "is not.",
            EXIT_USAGE,
        )
    settings = load_settings()
    password: str = args.password if args.password is not None else ask_password()
    if len(password) not in PASSWORD_LENGTHS:
        raise CommandFailed("the password must be 8 to 128 characters long.", EXIT_USAGE)

    async def create(store: Store) -> None:
        try:
            await create_user(store, username, password, Role.ADMIN, None)
        except UserExists as error:
            raise CommandFailed(str(error)) from None

    on_store(settings.database_url, create)
    print(f"Administrator {username!r} created; it may configure every branch and add staff.")
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from app.bootstrap import seed_demo

    settings = load_settings()
    accounts = on_store(settings.database_url, seed_demo)
    print(demo_report(accounts, str(args.url).rstrip("/")))
    return EXIT_OK


def load_settings() -> Settings:
    """The settings from the environment, or one sentence naming the bad variable."""
    from pydantic import ValidationError

    from app.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]).upper() if problem["loc"] else "SETTINGS"
        raise CommandFailed(f"QUEUEHALL_{field}: {problem['msg']}.", EXIT_USAGE) from None
    check_database_url(settings.database_url)
    return settings


def check_database_url(url: str) -> None:
    """Refuse, before connecting, a URL the store cannot use (clearer than a driver's error)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CommandFailed(
            "QUEUEHALL_DATABASE_URL is not a database URL (see .env.example).", EXIT_USAGE
        ) from None
    if parsed.drivername not in DRIVERS:
        raise CommandFailed(
            "QUEUEHALL_DATABASE_URL must start with sqlite+aiosqlite:// or "
            f"postgresql+asyncpg://, not {parsed.drivername}://.",
            EXIT_USAGE,
        )
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        # Checked here because aiosqlite, failing to open a file, can print a thread's
        # traceback after the event loop has closed.
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise CommandFailed(
                f"the folder {folder.resolve()} of the SQLite store does not exist."
            )


def shown_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def browser_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: this machine answers on loopback
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Turn the store's and the driver's failures into one sentence."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, CommandError, OSError) as error:
        reason = error.orig if isinstance(error, DBAPIError) and error.orig else error
        lines = str(reason).strip().splitlines()
        detail = lines[0].rstrip(".") if lines else type(reason).__name__
        raise CommandFailed(f"the store {shown_url(url)} cannot be used: {detail}.") from None


def migrate_store(url: str) -> str:
    """Apply the migrations; returns the schema revision the store is at."""
    from app.db.migrate import head_revisions, upgrade_sync

    with store_errors(url):
        upgrade_sync(url)
    return ", ".join(sorted(head_revisions()))


def on_store(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on the store at ``url``, which must be at the current schema."""
    from app.db.migrate import current_revisions, head_revisions
    from app.db.session import create_engine
    from app.db.store import Store

    async def run() -> T:
        engine = create_engine(url)
        try:
            current = await current_revisions(engine)
            expected = head_revisions()
            if current != expected:
                if not current:
                    found = "has no tables yet"
                else:
                    found = f"is at schema {', '.join(sorted(current))}, not {', '.join(expected)}"
                raise CommandFailed(f"the store {found}; run `queuehall migrate` first.")
            return await action(Store(engine))
        finally:
            await engine.dispose()

    with store_errors(url):
        return asyncio.run(run())


def ask_password() -> str:
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandFailed("no password given (pass --password PW).", EXIT_USAGE)
    try:
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password again: ")
    except (EOFError, KeyboardInterrupt):
        raise CommandFailed("no password given (pass --password PW).", EXIT_USAGE) from None
    if first != second:
        raise CommandFailed("the two passwords differ.", EXIT_USAGE)
    return first


DEMO_EXISTS = (
    "The demo branch exists already; its passwords were printed when it was created "
    "(an admin made with `queuehall createadmin` can set new ones)."
)


def demo_report(accounts: DemoAccounts | None, base_url: str) -> str:
    """How to sign in to a freshly created demo branch (None: it existed already)."""
    from app.bootstrap import DEMO_COUNTERS, DEMO_SERVICES

    if accounts is None:
        return DEMO_EXISTS
    services = ", ".join(f"{code} {name}" for code, name, *_ in DEMO_SERVICES)
    (manager, manager_password), (clerk, clerk_password) = accounts.manager, accounts.clerk
    width = max(len(manager), len(clerk))
    api = f"{base_url}/api/v1"
    return "\n".join(
        [
            f"The demo branch {accounts.branch!r} is ready: services {services}; "
            f"counters 1 to {len(DEMO_COUNTERS)}.",
            "",
            f"  manager  {manager:<{width}}  password {manager_password}",
            f"  clerk    {clerk:<{width}}  password {clerk_password}",
            "",
            "Keep these passwords now: they are stored only as hashes and not shown again.",
            "",
            f"  API docs  {base_url}/docs",
            f"  sign in   POST {api}/auth/token (form fields username, password)",
            f"  queue     GET {api}/branches/{accounts.branch}/queue (Authorization: Bearer …)",
            f"  health    {base_url}/healthz",
            f"  try it    curl -d username={clerk} -d password={clerk_password} {api}/auth/token",
        ]
    )


# A customer's ticket token in a path: /api/v1/tickets/{token}, /t/{token}, /ws/tickets/{token}.
TICKET_TOKEN_IN_PATH = re.compile(r"(/(?:tickets|t)/)([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{12,60}")


class MaskTicketTokens(logging.Filter):
    """Keep customers' ticket tokens out of the access log: whoever reads the log could
    otherwise open or cancel their tickets. The first four characters stay, so that the lines of
    one ticket can still be matched."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            masked = TICKET_TOKEN_IN_PATH.sub(r"\1\2…", args[2])
            record.args = (*args[:2], masked, *args[3:])
        return True


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Queuehall's own loggers (``queuehall.*``) at the same level."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_ticket_tokens"] = {"()": MaskTicketTokens}
    access = config["loggers"]["uvicorn.access"]
    access["filters"] = [*access.get("filters", []), "mask_ticket_tokens"]
    config["loggers"]["queuehall"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


if __name__ == "__main__":
    raise SystemExit(main())
