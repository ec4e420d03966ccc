# Long runs: benchmarks (issue #7, benchmarks/README.md, docs/performance.md) and the soak
# (issue #8, docs/reliability.md). The fast checks are in .ci/run.
# Needs PostgreSQL on 127.0.0.1:5432 (trust auth; or make bench PG=postgresql://...)
# and wrk for the HTTP benchmark: `make tools` (run by every target) installs it with apt-get
# when it is missing, and the virtualenv when there is none.
PYTHON ?= .venv/bin/python
PG ?=
PG_OPTION = $(if $(PG),--pg $(PG))
QUEUEHALL_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
export QUEUEHALL_TEST_DATABASE_URL

.PHONY: bench bench-quick soak tools

tools:  ## the virtualenv and wrk, installed when missing
	@[ -x $(PYTHON) ] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'; }
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

bench: tools  ## every workload, ≤ 15 minutes; artifacts/bench.json + docs/performance.md
	$(PYTHON) -m benchmarks.suite $(PG_OPTION)

bench-quick: tools  ## the same at small sizes, ≤ 3 minutes; artifacts/bench-quick.json
	$(PYTHON) -m benchmarks.suite --quick $(PG_OPTION)

# Crash, races, outages, realtime faults and the stateful run on PostgreSQL (at most 13 min),
# then Schemathesis over every operation (100 cases each, at most 6 min); figures in artifacts/, docs/reliability.md.
soak: tools
	mkdir -p artifacts
	$(PYTHON) -m benchmarks.soak --json artifacts/soak.json
	timeout 360 $(PYTHON) -m benchmarks.fuzz --max-examples 100 --json artifacts/fuzz.json
