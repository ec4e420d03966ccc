"""The engine package stays pure: standard library and sortedcontainers only, no clock reads."""

import ast
import sys
from pathlib import Path

import app.queue_engine

PACKAGE = Path(app.queue_engine.__file__).parent
ALLOWED_THIRD_PARTY = {"sortedcontainers"}
FORBIDDEN_CALLS = {("time", "time"), ("time", "monotonic"), ("datetime", "now"), ("date", "today")}


def module_sources() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def test_the_engine_imports_only_the_standard_library_and_sortedcontainers() -> None:
    offenders = []
    for path in module_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "asyncio" or (
                    top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY
                ):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_engine_never_reads_the_clock() -> None:
    offenders = []
    for path in module_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in FORBIDDEN_CALLS
            ):
                offenders.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert offenders == []
