# oncall — the two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Three installs, each a superset of the one before: the product (what `make run` needs),
# the test tools (plus PostgreSQL's driver, for the storage tests), and the benchmark peers.
RUN_STAMP   := $(VENV)/.installed-run
TEST_STAMP  := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install run demo-ticket test lint typecheck unit bench check-examples postgres dist clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev,postgres]'
	touch $@ $(RUN_STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev,postgres,bench]'
	touch $@ $(TEST_STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

## run the daemon on the embedded defaults (SQLite under ./var, ./schedules, console transport)
## A random webhook secret for the demo is kept in var/demo.env (never committed).
run: $(RUN_STAMP) var/demo.env
	@set -a; [ -n "$$ONCALL_SOURCES__GENERIC__SECRET" ] || . ./var/demo.env; set +a; exec $(BIN)/oncall run

## file the demo ticket with the running daemon (signed with var/demo.env's secret); each run
## files a new ticket (DEMO-<time>), so every run pages
demo-ticket: $(RUN_STAMP) var/demo.env
	@set -a; [ -n "$$ONCALL_SOURCES__GENERIC__SECRET" ] || . ./var/demo.env; set +a; \
	  $(BIN)/python -c 'import json, sys, time, datetime as d; t = json.load(open(sys.argv[1])); \
	    t["id"] = "DEMO-%d" % time.time(); t["created_at"] = d.datetime.now(d.UTC).isoformat(timespec="seconds"); \
	    print(json.dumps(t))' examples/demo-ticket.json | $(BIN)/oncall send-ticket -

var/demo.env:
	@mkdir -p var
	@umask 077; printf 'ONCALL_SOURCES__GENERIC__SECRET=%s\n' \
	  "$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(24))')" > $@

lint: $(TEST_STAMP)
	$(BIN)/ruff check oncall tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

check-examples: $(TEST_STAMP)
	@for d in schedules examples/*/; do $(BIN)/oncall --config $$d check || exit 1; done

## start a local PostgreSQL for the storage tests when one is installed (CI installs it)
postgres:
	@scripts/test-postgres.sh

unit: $(TEST_STAMP)
	$(BIN)/pytest

## axe-core for the console's browser tests (npm; the lock file pins it)
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd tests/e2e/axe && npm ci --no-audit --no-fund --silent; \
	  else echo "make: npm not found: the console's accessibility checks will skip (CI fails)" >&2; fi

## lint, types, every example's configuration, the whole test suite (SQLite and PostgreSQL), the
## console in a real browser (Debian's chromium; skipped where it is missing, except under CI=true)
test: $(TEST_STAMP) $(AXE)
	$(MAKE) --no-print-directory lint typecheck check-examples
	@eval "$$(scripts/test-postgres.sh)"; $(BIN)/pytest

bench: $(BENCH_STAMP)
	@eval "$$(scripts/test-postgres.sh)"; $(BIN)/python -m bench

## a wheel and an sdist under dist/ for servers (pip install dist/oncall-*.whl)
dist: $(TEST_STAMP)
	rm -rf dist && $(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) var dist .mypy_cache .ruff_cache .pytest_cache
