"""A short Schemathesis run over every operation of the OpenAPI document, authenticated, against
a real server: 0 server errors, 0 undocumented statuses, 0 responses outside the document. The
long run is ``python -m benchmarks.fuzz`` (docs/security.md).

It runs on SQLite only: what it tests is the HTTP surface, and the stores' behaviour under every
route is covered by the API tests on both."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.security.fuzzing import fuzz, fuzzed_hall

MAX_EXAMPLES = 15


def test_every_operation_answers_as_its_document_says(
    sqlite_template: Path, tmp_path: Path
) -> None:
    store = tmp_path / "queuehall.db"
    shutil.copyfile(sqlite_template, store)
    with fuzzed_hall(f"sqlite+aiosqlite:///{store}") as running:
        report = fuzz(running, max_examples=MAX_EXAMPLES)
    assert report.operations >= 50
    assert report.cases >= 10 * report.operations
    assert not report.failures, "\n\n".join(report.failures)
