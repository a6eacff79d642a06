# safeguard-stream: the commands a newcomer needs.
#
#   make demo    run the whole pipeline locally (see README)
#   make test    lint, type-check, unit and integration tests against real Kafka and PostgreSQL
#   make chaos   the worker killed with SIGKILL again and again, compared with a fault-free run
#   make up      start the local Kafka broker and PostgreSQL cluster; make down stops them
#
# Every target installs what it needs: Debian packages (Java, Maven, PostgreSQL) when missing,
# the virtualenv and the project's Python packages, Kafka's jars from Maven Central.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAFEGUARD := $(BIN)/safeguard
PYTEST_ARGS ?=

.PHONY: help system-deps venv up down status lint unit integration test demo bench bench-linkage chaos clean

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

# Debian packages the local infrastructure runs on; installed only when missing.
system-deps:
	@./.ci/system-deps

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: Python 3.11 or newer is needed ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# setuptools announces every editable install as a warning; it is information, not a fault.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

up: system-deps venv
	$(SAFEGUARD) infra up

down: venv
	$(SAFEGUARD) infra down

status: venv
	$(SAFEGUARD) infra status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# Starts the services unless they already run, and stops afterwards only what it started.
integration: system-deps venv
	@./.ci/with-infra $(BIN)/pytest tests/integration $(PYTEST_ARGS)

test: system-deps venv lint
	@./.ci/with-infra $(BIN)/pytest tests $(PYTEST_ARGS)

# A benchmark is not a test: make test only runs its smoke scale (tests/integration/test_bench.py).
bench: system-deps venv
	@./.ci/with-infra $(BIN)/python -m bench

# Linkage quality: precision and recall of proposed links between references (no broker needed).
LINKAGE_ARGS ?=
bench-linkage: venv
	$(BIN)/python -m bench.linkage $(LINKAGE_ARGS)

# Fault injection: a scenario through a worker killed with SIGKILL, compared with a fault-free run.
CHAOS_ARGS ?=
chaos: system-deps venv
	@./.ci/with-infra $(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# The whole pipeline with a generated scenario; DEMO_ARGS=--once runs it, summarises and stops.
DEMO_ARGS ?=
demo: system-deps venv
	$(SAFEGUARD) demo $(DEMO_ARGS)

# A PostgreSQL cluster or broker folder its account could not keep inside .safeguard lives in a
# folder of its own, remembered in .safeguard/data/<name>.location: it goes too.
clean: down
	@for pointer in .safeguard/data/*.location; do \
		[ -f "$$pointer" ] && rm -rf "$$(cat "$$pointer")"; \
	done; true
	rm -rf $(VENV) .safeguard
