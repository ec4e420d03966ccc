"""The benchmark suite's orchestration (benchmarks/suite.py), without servers: which workloads
run, how a missing or failing one is reported, and how docs/performance.md is rewritten.

The workloads themselves run real servers for minutes; `make bench-quick` is their smoke run."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from benchmarks import suite
from benchmarks.workload import SuiteContext, Verdict, WorkloadReport


def fake_module(name: str, run: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    if run is not None:
        module.run_for_suite = run  # type: ignore[attr-defined]
    return module


@pytest.fixture
def context(tmp_path: Path) -> SuiteContext:
    return SuiteContext(quick=True, pg="postgresql://unused", workdir=tmp_path, log=lambda _: None)


def test_every_listed_workload_is_in_the_tree_except_the_reports_one() -> None:
    """The list names real modules with a run_for_suite; only workload 7 may be absent."""
    import importlib

    for name in suite.WORKLOADS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            assert name == "benchmarks.reports"
            continue
        assert callable(module.run_for_suite), name


def test_missing_failing_and_working_workloads_are_each_reported(
    context: SuiteContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def works(ctx: SuiteContext) -> WorkloadReport:
        seen.append(dict(ctx.earlier))
        return WorkloadReport("Works", {"x": 1}, "| a |", [Verdict("t", "1", True)])

    def breaks(ctx: SuiteContext) -> WorkloadReport:
        raise RuntimeError("server did not start")

    monkeypatch.setitem(sys.modules, "benchmarks.fake_works", fake_module("fake_works", works))
    monkeypatch.setitem(sys.modules, "benchmarks.fake_breaks", fake_module("fake_breaks", breaks))
    monkeypatch.setitem(sys.modules, "benchmarks.fake_bare", fake_module("fake_bare", None))
    entries = suite.run_workloads(
        [
            "benchmarks.fake_works",
            "benchmarks.not_in_this_tree",
            "benchmarks.fake_breaks",
            "benchmarks.fake_bare",
            "benchmarks.fake_works",
        ],
        context,
    )
    statuses = [e["status"] for e in entries]
    assert statuses == [
        "ok",
        "not available in this tree",
        "failed",
        "not available in this tree (no run_for_suite)",
        "ok",
    ]
    assert entries[2]["error"] == "RuntimeError: server did not start"
    assert entries[0]["verdicts"] == [{"target": "t", "measured": "1", "met": True}]
    # A later workload sees the earlier one's figures (ratios within one run).
    assert seen == [{}, {"benchmarks.fake_works": {"x": 1}}]


def test_an_import_error_inside_a_present_workload_is_not_taken_for_a_missing_module(
    context: SuiteContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pkg_bench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        suite.run_workloads(["pkg_bench.broken"], context)


def result(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "command": "make bench (python -m benchmarks.suite)",
        "mode": "full",
        "started_at": "2026-11-21 05:30 UTC",
        "seconds": 600,
        "json": "artifacts/bench.json",
        "machine": {
            "cpu": "AMD EPYC",
            "cores": 2,
            "memory": "23.0 GiB",
            "os": "Linux",
            "python": "3.11.7",
            "packages": {"uvicorn": "0.54"},
            "postgresql": "15.20",
            "wrk": "wrk 4.1.0",
            "commit": "abc1234",
            "uncommitted_changes": False,
            "load_average_at_start": [4.0, 3.0, 2.0],
        },
        "load_average_at_end": [5.0, 4.0, 3.0],
        "workloads": entries,
    }


def test_the_generated_section_replaces_only_itself() -> None:
    entries = [
        {
            "module": "benchmarks.http",
            "title": "HTTP",
            "status": "ok",
            "seconds": 120.0,
            "load_average_before": [4.0, 3.0, 2.0],
            "load_average_after": [5.0, 3.0, 2.0],
            "markdown": "| row |",
            "verdicts": [{"target": "issue ≥ 1,500/s", "measured": "1,200/s", "met": False}],
        },
        {
            "module": "benchmarks.reports",
            "title": "benchmarks.reports",
            "status": "not available in this tree",
            "load_average_before": [5.0, 3.0, 2.0],
        },
    ]
    section = suite.render(result(entries))
    assert section.startswith(suite.BEGIN)
    assert section.rstrip().endswith(suite.END)
    assert "| issue ≥ 1,500/s | 1,200/s | **missed** |" in section
    assert "`benchmarks.reports`: not available in this tree." in section
    assert "make bench" in section
    assert "AMD EPYC" in section
    assert "[4.0, 3.0, 2.0]" in section

    first = suite.replace_section("# Queuehall performance\n\n## Engine\nhand-written\n", section)
    assert first.startswith("# Queuehall performance\n\n" + suite.BEGIN)
    assert first.endswith("## Engine\nhand-written\n")

    entries[0]["markdown"] = "| new row |"
    second = suite.replace_section(first, suite.render(result(entries)))
    assert "| new row |" in second
    assert "| row |" not in second
    assert second.count(suite.BEGIN) == 1
    assert second.count(suite.END) == 1
    assert second.endswith("## Engine\nhand-written\n")
