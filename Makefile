# Governance Ledger: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit integration e2e bench bench-quick clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@mkdir -p var
	@$(BIN)/ledger demo >/dev/null
	@TOKEN=$$($(BIN)/ledger token create --name "make-run-$$(date +%Y%m%d%H%M%S)") && \
	 echo "" && \
	 echo "Governance Ledger on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)" && \
	 echo "Token: $$TOKEN" && \
	 echo "Try:   curl -H \"Authorization: Bearer $$TOKEN\" http://$(HOST):$(PORT)/collaborations" && \
	 echo ""
	exec $(BIN)/ledger serve --host $(HOST) --port $(PORT) --workers 2

lint: $(STAMP)
	$(BIN)/ruff check ledger projections tests bench
	$(BIN)/ruff format --check ledger projections tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Benchmarks, each against a baseline measured in the same run (bench/README.md): `bench-quick`
# takes under two minutes, `bench` everything (~15 min). wrk comes from apt when missing.
bench bench-quick: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	 $$S apt-get update -qq && $$S apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(if $(filter bench-quick,$@),--quick)
