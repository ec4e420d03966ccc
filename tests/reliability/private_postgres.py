"""A PostgreSQL cluster of the test's own, on a free loopback port, that the test may stop and
start (the shared server on 5432 is never touched). Made with ``initdb`` in a fresh folder under
/tmp, run by the ``postgres`` user when the tests run as root, removed afterwards. Every step has
a bounded wait."""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from tests.test_serve import free_port

STEP_SECONDS = 60.0


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    assert found, "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are not installed"
    return Path(found[-1]).parent


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="queuehall-pg-", dir="/tmp"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)

    async def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.folder,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), STEP_SECONDS)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, f"{' '.join(argv)}:\n{out.decode(errors='replace')}"

    async def create(self) -> None:
        await self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "postgres.log")
        await self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "30", "start"
        )

    async def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (commits in flight included), as a failover does."""
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    async def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                await self.stop("immediate")
            finally:
                shutil.rmtree(self.folder, ignore_errors=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)
