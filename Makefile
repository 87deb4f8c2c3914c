# nlpops — the two commands a new machine needs: `make demo` and `make test`.
# Needs only Python 3.11, Java 17, make and git; everything else goes into .venv.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov and parliament pin packaging/urllib3 against requirements.txt: their own tool venv
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PYTHONHASHSEED := 0

.PHONY: help venv iac-tools browser-deps check-java demo test lint typecheck unit e2e bench mlflow-ui serve suites clean up down

help:
	@echo "make demo    - set up everything and run the pipeline end to end on the local target"
	@echo "make test    - lint, format check, types and the whole test suite (what CI runs)"
	@echo "make bench   - run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make mlflow-ui - open the MLflow UI on the local registry store"
	@echo "make serve   - serve the champion (SageMaker's /ping, /invocations) on 127.0.0.1"

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "nlpops needs $(PYTHON) on PATH (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip==26.3"
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

$(IAC_STAMP): requirements-iac.txt
	@command -v $(PYTHON) >/dev/null || { echo "nlpops needs $(PYTHON) on PATH (Python 3.11)"; exit 1; }
	test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install -q --upgrade "pip==26.3"
	$(IAC_VENV)/bin/python -m pip install -q -r requirements-iac.txt
	touch $(IAC_STAMP)

# checkov + parliament for tests/aws/test_infra.py
iac-tools: $(IAC_STAMP)

# Debian's chromium and its chromedriver for the browser test (tests/ui): no test tool downloads a browser
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "browser-deps: chromium/chromedriver missing and not root: tests/ui will be skipped (apt-get install chromium chromium-driver)"; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "browser-deps: chromium/chromedriver missing and no apt-get here: tests/ui will be skipped"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi

check-java: $(STAMP)
	@$(BIN)/python -c "from etl.spark import check_java; check_java()" \
	  || { echo "Spark needs Java 17: install openjdk-17 (apt-get install openjdk-17-jre-headless) and retry"; exit 1; }

demo: check-java
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy include etl ml plugins/nlpops dags scripts

unit: check-java
	$(BIN)/pytest -m "not e2e" -q

e2e: check-java
	$(BIN)/pytest -m e2e -q

test: lint typecheck check-java iac-tools browser-deps
	$(BIN)/pytest -q --timeout=1200 --durations=30

# fastText is a baseline of the quality benchmark only: pinned here, not in requirements.txt
bench: check-java
	$(BIN)/python -m pip install -q "fasttext-wheel==0.9.2"
	$(BIN)/python benchmarks/run_all.py

suites: $(STAMP)
	$(BIN)/python -m etl.validation.suites

up: check-java
	$(BIN)/python scripts/stack.py up

down: $(STAMP)
	$(BIN)/python scripts/stack.py down

# the registry's champion behind SageMaker's serving contract on 127.0.0.1 (hot-swaps on promotion)
serve: $(STAMP)
	$(BIN)/python scripts/serve.py $(if $(PROFILE),--profile $(PROFILE))

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(AIRFLOW_HOME)/mlflow.db" --host 127.0.0.1 --port 5000

clean:
	rm -rf .airflow .mypy_cache .ruff_cache .pytest_cache
