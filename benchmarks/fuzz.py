"""The long Schemathesis run of issue #8 (security); the soak command calls it.

    .venv/bin/python -m benchmarks.fuzz --max-examples 500 --json artifacts/fuzz.json

The same harness as ``tests/security/test_fuzz.py`` (``tests/security/fuzzing.py``): a real
uvicorn on 127.0.0.1 over a fresh, migrated, seeded store; every operation of the app's OpenAPI
document, authenticated as an administrator of the seeded branch, half the cases naming real
objects. Fails (exit status 1) on any server error, undocumented status or response outside the
document, and prints each failure with a curl command that reproduces it. ``--seed`` makes a
run random but repeatable (without it Hypothesis is derandomized, like the short run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from app import auth
from app.db.migrate import upgrade_sync
from tests.security.fuzzing import fuzz, fuzzed_hall


def run(args: argparse.Namespace) -> dict[str, Any]:
    # The production Argon2 cost is half a second per hash; the run signs in many times.
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with tempfile.TemporaryDirectory(prefix="queuehall-fuzz-") as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'fuzz.db'}"
        upgrade_sync(url)
        with fuzzed_hall(url) as running:
            report = fuzz(running, max_examples=args.max_examples, seed=args.seed, verbose=True)
    return {
        "max_examples": args.max_examples,
        "seed": args.seed,
        "operations": report.operations,
        "cases": report.cases,
        "seconds": round(report.seconds, 1),
        "failures": report.failures,
        "statuses": {op: {str(k): v for k, v in s.items()} for op, s in report.statuses.items()},
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument("--max-examples", type=int, default=500, help="cases per operation")
    parser.add_argument("--seed", type=int, default=None, help="random but repeatable")
    parser.add_argument(
        "--database-url", default=None, help="an empty store (default: a fresh SQLite file)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    figures = run(args)
    print(
        f"{figures['operations']} operations, {figures['cases']} cases in {figures['seconds']} s, "
        f"{len(figures['failures'])} failing operations"
    )
    for failure in figures["failures"]:
        print("\n" + failure)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
