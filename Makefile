# oncall — the two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo-ticket test lint typecheck unit bench check-examples postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

## run the daemon on the embedded defaults (SQLite under ./var, ./schedules, console transport)
## A random webhook secret for the demo is kept in var/demo.env (never committed).
run: $(STAMP) var/demo.env
	@set -a; [ -n "$$ONCALL_SOURCES__GENERIC__SECRET" ] || . ./var/demo.env; set +a; exec $(BIN)/oncall run

## file the demo ticket with the running daemon (signed with var/demo.env's secret)
demo-ticket: $(STAMP) var/demo.env
	@set -a; [ -n "$$ONCALL_SOURCES__GENERIC__SECRET" ] || . ./var/demo.env; set +a; \
	  $(BIN)/oncall send-ticket examples/demo-ticket.json

var/demo.env:
	@mkdir -p var
	@umask 077; printf 'ONCALL_SOURCES__GENERIC__SECRET=%s\n' \
	  "$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(24))')" > $@

lint: $(STAMP)
	$(BIN)/ruff check oncall tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check-examples: $(STAMP)
	@for d in schedules examples/*/; do $(BIN)/oncall --config $$d check || exit 1; done

## start a local PostgreSQL for the storage tests when one is installed (CI installs it)
postgres:
	@scripts/test-postgres.sh

unit: $(STAMP)
	$(BIN)/pytest

## lint, types, every example's configuration, the whole test suite (SQLite and PostgreSQL)
test: $(STAMP)
	$(MAKE) --no-print-directory lint typecheck check-examples
	@eval "$$(scripts/test-postgres.sh)"; $(BIN)/pytest

bench: $(STAMP)
	@eval "$$(scripts/test-postgres.sh)"; $(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
