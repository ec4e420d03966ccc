"""What the benchmark suite (:mod:`benchmarks.suite`) hands a workload, and what it gets back.

A workload is a module under ``benchmarks/`` with one function::

    def run_for_suite(context: SuiteContext) -> WorkloadReport: ...

The suite imports the modules listed in ``benchmarks.suite.WORKLOADS`` in order, calls
``run_for_suite`` and puts each report's figures into ``artifacts/bench.json`` and its markdown
into the generated part of ``docs/performance.md``. A module that is not in the tree is reported
as "not available in this tree"; a workload that raises is reported as failed and the suite
goes on with the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SuiteContext:
    quick: bool  # the bounded smoke run (`make bench-quick`): small sizes, short runs
    pg: str  # asyncpg DSN of a PostgreSQL database used to create and drop bench databases
    workdir: Path  # a temporary directory for logs and SQLite files, removed afterwards
    log: Callable[[str], None]
    # Figures of the workloads that ran before, by module name (for ratios within one run).
    earlier: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool


@dataclass
class WorkloadReport:
    title: str
    figures: dict[str, Any]  # raw figures, written to the JSON file as they are
    markdown: str  # tables for docs/performance.md (no heading: the suite adds the title)
    verdicts: list[Verdict] = field(default_factory=list)
