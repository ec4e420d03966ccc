"""``queuehall migrate``, ``createadmin`` and ``demo``, run in-process on a fresh SQLite file:
they do their one job, are safe to repeat, and fail in one sentence with a useful exit status."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.auth import verify_password
from app.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from app.db import models
from app.db.migrate import current_revisions, head_revisions
from app.db.session import create_engine
from app.db.store import Store
from app.main import create_app
from app.settings import Settings, get_settings

Result = tuple[int, str, str]  # exit status, stdout, stderr
RunCli = Callable[..., Result]


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """QUEUEHALL_DATABASE_URL names a SQLite file that does not exist yet."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    url = f"sqlite+aiosqlite:///{tmp_path / 'queuehall.db'}"
    monkeypatch.setenv("QUEUEHALL_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Runs ``queuehall ARGV...`` in this process with the environment as it is now."""

    def run_cli(*argv: str) -> Result:
        get_settings.cache_clear()
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run_cli


def staff(url: str) -> dict[str, models.StaffUser]:
    async def read() -> dict[str, models.StaffUser]:
        engine = create_engine(url)
        try:
            async with Store(engine).sessions() as session:
                users = (await session.scalars(select(models.StaffUser))).all()
                return {user.username: user for user in users}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def schema_revisions(url: str) -> frozenset[str]:
    async def read() -> frozenset[str]:
        engine = create_engine(url)
        try:
            return await current_revisions(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def assert_one_sentence(err: str) -> None:
    assert err.startswith("queuehall: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


def demo_account(output: str, role: str) -> tuple[str, str]:
    match = re.search(rf"^\s+{role}\s+(\S+)\s+password\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1), match.group(2)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# migrate


def test_migrate_brings_a_new_store_to_the_current_schema_and_can_run_again(
    store_url: str, run: RunCli
) -> None:
    for _ in range(2):
        status, out, err = run("migrate")
        assert (status, err) == (EXIT_OK, "")
        assert f"is at the current schema ({', '.join(sorted(head_revisions()))})" in out
    assert schema_revisions(store_url) == head_revisions()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "sqlite+aiosqlite:///{tmp}/no-such-folder/queuehall.db",
            "no-such-folder of the SQLite store does not exist",
        ),
        ("postgresql+asyncpg://postgres@127.0.0.1:{port}/queuehall", "cannot be used"),
    ],
    ids=["sqlite-missing-folder", "postgresql-nobody-listening"],
)
def test_a_store_that_cannot_be_reached_is_one_sentence_and_exit_1(
    store_url: str,
    run: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    says: str,
) -> None:
    monkeypatch.setenv("QUEUEHALL_DATABASE_URL", url.format(tmp=tmp_path, port=closed_port()))
    status, out, err = run("migrate")
    assert (status, out) == (EXIT_FAILURE, "")
    assert_one_sentence(err)
    assert says in err


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://queuehall@localhost/queuehall", "must start with sqlite+aiosqlite://"),
        ("postgresql://queuehall@localhost/queuehall", "must start with sqlite+aiosqlite://"),
        ("not a url", "is not a database URL"),
    ],
)
def test_a_url_the_store_cannot_use_is_refused_before_connecting(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("QUEUEHALL_DATABASE_URL", url)
    status, _, err = run("migrate")
    assert status == EXIT_USAGE
    assert_one_sentence(err)
    assert says in err


def test_a_malformed_setting_is_named(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUEHALL_MAX_BATCH", "many")
    status, _, err = run("migrate")
    assert status == EXIT_USAGE
    assert_one_sentence(err)
    assert "QUEUEHALL_MAX_BATCH" in err


def test_the_password_of_a_postgresql_url_is_never_printed(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+asyncpg://queuehall:s3cret-pw@127.0.0.1:{closed_port()}/queuehall"
    monkeypatch.setenv("QUEUEHALL_DATABASE_URL", url)
    status, _, err = run("migrate")
    assert status == EXIT_FAILURE
    assert "s3cret-pw" not in err
    assert "queuehall:***@127.0.0.1" in err


# createadmin


def test_createadmin_makes_an_administrator_of_every_branch(store_url: str, run: RunCli) -> None:
    run("migrate")
    status, out, err = run("createadmin", "root", "--password", "correct horse")
    assert (status, err) == (EXIT_OK, "")
    assert "'root'" in out
    root = staff(store_url)["root"]
    assert (root.role, root.branch_id, root.active) == ("admin", None, True)
    assert verify_password(root.password_hash, "correct horse")
    assert "correct horse" not in root.password_hash


def test_the_new_administrator_signs_in_and_creates_a_branch(store_url: str, run: RunCli) -> None:
    run("migrate")
    run("createadmin", "root", "--password", "correct horse")

    async def use_the_api() -> None:
        app = create_app(Settings(database_url=store_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                signed_in = await client.post(
                    "/api/v1/auth/token", data={"username": "root", "password": "correct horse"}
                )
                assert signed_in.status_code == 200, signed_in.text
                assert signed_in.json()["role"] == "admin"
                headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
                created = await client.post(
                    "/api/v1/branches", headers=headers, json={"id": "b1", "name": "一号网点"}
                )
                assert created.status_code == 201, created.text

    asyncio.run(use_the_api())


def test_a_taken_username_is_one_sentence_and_exit_1(store_url: str, run: RunCli) -> None:
    run("migrate")
    assert run("createadmin", "root", "--password", "first-password")[0] == EXIT_OK
    status, out, err = run("createadmin", "root", "--password", "second-password")
    assert (status, out) == (EXIT_FAILURE, "")
    assert_one_sentence(err)
    assert "taken" in err
    assert verify_password(staff(store_url)["root"].password_hash, "first-password")


@pytest.mark.parametrize(
    ("username", "password", "says"),
    [
        ("root", "short", "8 to 128 characters"),
        ("root", "x" * 129, "8 to 128 characters"),
        ("a b", "long enough", "3 to 64"),
        ("ab", "long enough", "3 to 64"),
    ],
)
def test_a_bad_username_or_password_is_refused_and_nothing_is_created(
    store_url: str, run: RunCli, username: str, password: str, says: str
) -> None:
    run("migrate")
    status, out, err = run("createadmin", username, "--password", password)
    assert (status, out) == (EXIT_USAGE, "")
    assert_one_sentence(err)
    assert says in err
    assert staff(store_url) == {}


class Terminal:
    def isatty(self) -> bool:
        return True


def test_createadmin_asks_for_the_password_twice_when_it_is_left_out(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("migrate")
    monkeypatch.setattr("sys.stdin", Terminal())
    answers = iter(["typed password", "typed password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    status, _, err = run("createadmin", "root")
    assert (status, err) == (EXIT_OK, "")
    assert verify_password(staff(store_url)["root"].password_hash, "typed password")


def test_two_different_typed_passwords_create_nobody(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("migrate")
    monkeypatch.setattr("sys.stdin", Terminal())
    answers = iter(["typed password", "typo password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    status, _, err = run("createadmin", "root")
    assert status == EXIT_USAGE
    assert "differ" in err
    assert staff(store_url) == {}


def test_without_a_terminal_the_password_must_be_given(
    store_url: str, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("migrate")
    monkeypatch.setattr("sys.stdin", None)
    status, _, err = run("createadmin", "root")
    assert status == EXIT_USAGE
    assert_one_sentence(err)
    assert "--password" in err


@pytest.mark.parametrize(
    "argv", [("createadmin", "root", "--password", "long enough"), ("demo",)], ids=str
)
def test_on_a_store_never_migrated_the_commands_say_to_migrate_and_change_nothing(
    store_url: str, run: RunCli, argv: tuple[str, ...]
) -> None:
    status, out, err = run(*argv)
    assert (status, out) == (EXIT_FAILURE, "")
    assert_one_sentence(err)
    assert "run `queuehall migrate` first" in err
    assert schema_revisions(store_url) == frozenset()


# demo


def test_demo_prints_sign_in_details_that_work(store_url: str, run: RunCli) -> None:
    run("migrate")
    status, out, err = run("demo")
    assert (status, err) == (EXIT_OK, "")
    users = staff(store_url)
    for role in ("manager", "clerk"):
        username, password = demo_account(out, role)
        assert users[username].role == role
        assert users[username].branch_id == "demo"
        assert verify_password(users[username].password_hash, password)
    assert "'demo'" in out
    for link in ("/docs", "/api/v1/auth/token", "/api/v1/branches/demo/queue", "/healthz"):
        assert f"http://127.0.0.1:8000{link}" in out


def test_demo_links_name_the_address_given(store_url: str, run: RunCli) -> None:
    run("migrate")
    _, out, _ = run("demo", "--url", "http://hall.example:9000/")
    assert "http://hall.example:9000/docs" in out
    assert "127.0.0.1" not in out


def test_demo_twice_says_it_exists_and_keeps_the_first_passwords(
    store_url: str, run: RunCli
) -> None:
    run("migrate")
    _, first, _ = run("demo")
    hashes = {name: user.password_hash for name, user in staff(store_url).items()}
    status, second, err = run("demo")
    assert (status, err) == (EXIT_OK, "")
    assert "exists already" in second
    assert "password " not in second
    assert {name: user.password_hash for name, user in staff(store_url).items()} == hashes
    assert demo_account(first, "clerk")[1] not in second
