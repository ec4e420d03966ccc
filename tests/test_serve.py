"""``queuehall serve`` as ``scripts/serve`` and the Docker image run it: a real process on a free
loopback port, on a fresh SQLite file and (when ``QUEUEHALL_TEST_DATABASE_URL`` names a server)
on a fresh PostgreSQL database, driven over HTTP and stopped with SIGTERM. Docker cannot run
here, so ``Dockerfile`` and ``docker-compose.yml`` are checked as data: the wiring they promise
is the configuration the process test runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
from asyncio.subprocess import Process
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.engine import make_url

from tests.hall.conftest import database_url  # noqa: F401  (a fresh store, both tiers)

ROOT = Path(__file__).parents[1]
QUEUEHALL = Path(sys.executable).with_name("queuehall")
COMMAND_SECONDS = 120.0  # a loaded CI machine imports the server stack slowly
READY_SECONDS = 120.0
STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(database: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("QUEUEHALL_")}
    env["QUEUEHALL_DATABASE_URL"] = database
    return env


async def queuehall(env: dict[str, str], cwd: Path, *argv: str) -> str:
    """Run ``queuehall ARGV...`` to the end; its output, after checking that it succeeded."""
    assert QUEUEHALL.exists(), f"{QUEUEHALL} is missing: install with pip install -e ."
    process = await asyncio.create_subprocess_exec(
        str(QUEUEHALL),
        *argv,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"queuehall {shlex.join(argv)}: {err.decode()}"
    return out.decode()


def demo_account(output: str, role: str) -> tuple[str, str]:
    match = re.search(rf"^\s+{role}\s+(\S+)\s+password\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1), match.group(2)


class Server:
    """``queuehall serve`` in a child process, its output in a log file."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path, *options: str) -> None:
        self.env = env
        self.options = options  # more ``queuehall serve`` arguments, e.g. ``--demo``
        self.cwd = cwd
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None

    async def start(self) -> dict[str, Any]:
        """Start and wait until ``/readyz`` answers; returns its body."""
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(QUEUEHALL),
                "serve",
                *self.options,
                "--port",
                str(self.port),
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + READY_SECONDS
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.process.returncode is None, f"serve exited:\n{self.output()}"
                try:
                    response = await client.get("/readyz")
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body
        raise AssertionError(f"not ready after {READY_SECONDS} s:\n{self.output()}")

    async def terminate(self) -> int:
        """SIGTERM, as ``docker stop`` sends; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), STOP_SECONDS)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def test_serve_runs_the_demo_hall_over_http_and_stops_cleanly_on_sigterm(
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = environment(database_url)
    server = Server(env, tmp_path, tmp_path / "serve.log", "--demo")  # as scripts/serve runs it
    try:
        ready = await server.start()
        assert ready == {"status": "ready", "branches": 1}
        clerk = demo_account(server.output(), "clerk")
        assert f"{server.url}/docs" in server.output()  # links name the address served
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})

            signed_in = await client.post(
                "/api/v1/auth/token", data={"username": clerk[0], "password": clerk[1]}
            )
            assert signed_in.status_code == 200, signed_in.text
            assert signed_in.json()["role"] == "clerk"
            client.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"

            issued = await client.post("/api/v1/branches/demo/tickets", json={"service": "A"})
            assert issued.status_code == 201, issued.text
            ticket = issued.json()
            assert ticket["number"] == "A001"
            opened = await client.post("/api/v1/branches/demo/counters/1/open")
            assert opened.status_code == 200, opened.text
            called = await client.post("/api/v1/branches/demo/counters/1/call-next")
            assert called.status_code == 200, called.text
            assert called.json()["ticket"]["number"] == "A001"

        assert await server.terminate() == 0, server.output()
    finally:
        await server.kill()
    assert "Application shutdown complete" in server.output()
    assert "Traceback" not in server.output()

    # Started again on the same store (migrations already applied), the call is still there.
    again = Server(env, tmp_path, tmp_path / "serve-again.log", "--demo")
    try:
        assert (await again.start())["branches"] == 1
        async with httpx.AsyncClient(base_url=again.url, timeout=30) as client:
            mine = await client.get(f"/api/v1/tickets/{ticket['token']}")
            assert mine.status_code == 200, mine.text
            assert (mine.json()["state"], mine.json()["counter"]) == ("called", 1)
        assert await again.terminate() == 0, again.output()
    finally:
        await again.kill()
    assert "Traceback" not in again.output()


async def test_serve_demo_seeds_first_and_a_port_in_use_is_refused_without_a_traceback(
    tmp_path: Path,
) -> None:
    env = environment(f"sqlite+aiosqlite:///{tmp_path / 'queuehall.db'}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            str(QUEUEHALL),
            "serve",
            "--demo",
            "--port",
            str(port),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), COMMAND_SECONDS)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    output = out.decode()
    assert process.returncode != 0
    assert "address already in use" in output
    assert "Traceback" not in output
    assert demo_account(output, "clerk")[0] == "demo-clerk"
    assert f"http://127.0.0.1:{port}/docs" in output


# The Docker files, as data


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def instruction(keyword: str) -> list[str]:
    return [arguments for found, arguments in dockerfile() if found == keyword]


def test_compose_runs_the_app_on_postgresql_16_once_the_database_is_healthy() -> None:
    services = compose()["services"]
    app, db = services["app"], services["db"]
    assert str(db["image"]).startswith("postgres:16")

    url = make_url(app["environment"]["QUEUEHALL_DATABASE_URL"])
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "db"
    assert url.port in (None, 5432)
    credentials = db["environment"]
    assert url.username == credentials["POSTGRES_USER"]
    assert url.password == credentials["POSTGRES_PASSWORD"]
    assert url.database == credentials["POSTGRES_DB"]

    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "8000:8000" in [str(port) for port in app["ports"]]
    # The image's CMD (queuehall serve) applies the migrations; nothing may replace it.
    assert "command" not in app or "queuehall serve" in " ".join(app["command"])
    assert app["build"] == "."


def test_compose_checks_both_services_health_and_keeps_the_data_in_a_named_volume() -> None:
    document = compose()
    db, app = document["services"]["db"], document["services"]["app"]
    db_check = db["healthcheck"]["test"]
    assert db_check[0] in ("CMD", "CMD-SHELL")
    assert "pg_isready" in " ".join(db_check)
    app_check = " ".join(app["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in app_check

    volume, _, mount = str(db["volumes"][0]).partition(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in document["volumes"], "the database's data must live in a named volume"


def test_the_image_serves_as_a_non_root_user_with_sqlite_in_a_volume() -> None:
    assert instruction("FROM") == ["python:3.11-slim"]
    cmd = json.loads(instruction("CMD")[-1])
    assert cmd[:2] == ["queuehall", "serve"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert instruction("EXPOSE") == ["8000"]
    user = instruction("USER")[-1]
    assert user not in ("root", "0")

    env = " ".join(instruction("ENV"))
    sqlite = re.search(r"QUEUEHALL_DATABASE_URL=(\S+)", env)
    assert sqlite, "without QUEUEHALL_DATABASE_URL given, the image must say where SQLite lives"
    folder = str(Path(str(make_url(sqlite.group(1)).database)).parent)
    assert folder in instruction("VOLUME")
    assert any(f"chown {user}" in run and folder in run for run in instruction("RUN"))


def test_the_image_installs_in_place_next_to_its_migrations() -> None:
    # app/db/migrate.py reads alembic.ini and migrations/ beside the app package: a wheel
    # install into site-packages would leave them behind.
    copied = " ".join(instruction("COPY"))
    for needed in ("pyproject.toml", "alembic.ini", "app", "migrations"):
        assert re.search(rf"(^|\s){re.escape(needed)}(\s|$)", copied), needed
    assert any(re.search(r"pip install (.* )?-e \.", run) for run in instruction("RUN"))


def test_scripts_serve_runs_what_the_process_test_runs_in_the_same_order() -> None:
    script = (ROOT / "scripts" / "serve").read_text()
    runs = re.findall(r"^(?:exec )?\.venv/bin/queuehall (.*)$", script, re.MULTILINE)
    assert runs == ['serve --demo "$@"']
