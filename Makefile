# hybridsoa: `make serve` starts the mock, `make test` runs the whole suite. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installs are keyed on pyproject.toml's content, so a second run skips pip entirely.
DEPS_KEY := $(shell cksum < pyproject.toml | cut -d' ' -f1)
SERVE_STAMP := $(VENV)/.installed-serve-$(DEPS_KEY)
TEST_STAMP := $(VENV)/.installed-test-$(DEPS_KEY)

HOST ?= 127.0.0.1
PORT ?= 8443
# The HTTPS proxy for unmodified clients (HTTPS_PROXY=http://$(HOST):$(PROXY_PORT)); PROXY_PORT= turns it off.
PROXY_PORT ?= 8080
DATA_DIR ?= .hybridsoa
ARGS ?=
PYTEST_ARGS ?=

.PHONY: serve test test-fast lint install install-test ca clean help

help:
	@echo "make serve   start the mock on https://$(HOST):$(PORT) (data and CA in $(DATA_DIR)); ARGS=... for more"
	@echo "             and its HTTPS proxy on http://$(HOST):$(PROXY_PORT) for unmodified clients (PROXY_PORT= for none)"
	@echo "make test    run the whole test suite; PYTEST_ARGS=... to narrow it"
	@echo "make test-fast  unit and api suites only, for the edit loop"
	@echo "make lint    ruff (lint and format check) and mypy; make test runs it first"
	@echo "make ca      print the CA certificate path clients must trust"
	@echo "make clean   remove .venv and $(DATA_DIR)"

serve: $(SERVE_STAMP)
	$(VENV)/bin/hybridsoa-mock serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) \
		$(if $(PROXY_PORT),--proxy-port $(PROXY_PORT)) $(ARGS)

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Lint first: it takes seconds and fails before the suite's minutes do. Config in pyproject.toml ([tool.ruff], [tool.mypy]).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The edit loop: unit and api suites only (no sockets, no subprocesses), about a quarter of `make test`.
test-fast: $(TEST_STAMP)
	$(PY) -m pytest tests/unit tests/api -q $(PYTEST_ARGS)

ca: $(SERVE_STAMP)
	@$(VENV)/bin/hybridsoa-mock ca --data-dir $(DATA_DIR)

install: $(SERVE_STAMP)

install-test: $(TEST_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(SERVE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[mock]'
	rm -f $(VENV)/.installed-serve-*
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[mock,test,load]'
	rm -f $(VENV)/.installed-*
	touch $@ $(SERVE_STAMP)

clean:
	rm -rf $(VENV) $(DATA_DIR)
