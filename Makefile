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
# uv installs a pinned requirements file several times faster than pip (parallel downloads, builds
# and byte-compilation); pip itself installs only uv.
UV_VERSION := 0.13.8
uv_install = $(1)/bin/python -m pip install -q --upgrade "pip==26.3" "uv==$(UV_VERSION)" && $(1)/bin/uv pip install -q --compile-bytecode --python $(1)/bin/python
# Runtime contract venvs (tests/runtimes): the Glue version's Python + Spark + the job's modules, and
# the SageMaker image's Python + docker/sagemaker/requirements.txt. Interpreters from pyenv by default.
GLUE_VERSION := 6.0
GLUE_VENV := .venv-glue
GLUE_STAMP := $(GLUE_VENV)/.installed
SM_VENV := .venv-sagemaker
SM_STAMP := $(SM_VENV)/.installed
pyenv_python = $(or $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)))),python$(1))
GLUE_PYTHON ?= $(call pyenv_python,3.13)
SAGEMAKER_PYTHON ?= $(call pyenv_python,3.12)

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PYTHONHASHSEED := 0

.PHONY: help venv test-deps iac-tools runtime-venvs sagemaker-image sagemaker-image-requirements browser-deps pg-deps check-java demo test lint typecheck unit e2e bench mlflow-ui serve suites clean up down reprocess

help:
	@echo "make demo    - set up everything and run the pipeline end to end on the local target"
	@echo "make test    - lint, format check, types and the whole test suite (what CI runs)"
	@echo "make bench   - run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make sagemaker-image - build and push the SageMaker image (docker), print NLPOPS_SAGEMAKER_IMAGE_URI"
	@echo "make mlflow-ui - open the MLflow UI on the local registry store"
	@echo "make serve   - serve the champion (SageMaker's /ping, /invocations) on 127.0.0.1"
	@echo "make reprocess PROFILE=p [ZONE=raw|inference-input] MATCH='pattern' - process files again on purpose"

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "nlpops needs $(PYTHON) on PATH (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call uv_install,$(VENV)) -r requirements.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

$(IAC_STAMP): requirements-iac.txt
	@command -v $(PYTHON) >/dev/null || { echo "nlpops needs $(PYTHON) on PATH (Python 3.11)"; exit 1; }
	test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	$(call uv_install,$(IAC_VENV)) -r requirements-iac.txt
	touch $(IAC_STAMP)

# checkov + parliament for tests/aws/test_infra.py
iac-tools: $(IAC_STAMP)

$(GLUE_STAMP): requirements.txt include/runtimes.py | $(STAMP)
	@command -v $(GLUE_PYTHON) >/dev/null || { echo "the Glue $(GLUE_VERSION) contract venv needs $(GLUE_PYTHON) (Python $$($(BIN)/python -m include.runtimes glue-python $(GLUE_VERSION))): pyenv install 3.13, or make GLUE_PYTHON=/path/to/python3.13"; exit 1; }
	rm -rf $(GLUE_VENV) && $(GLUE_PYTHON) -m venv $(GLUE_VENV)
	$(BIN)/python -m include.runtimes glue-requirements $(GLUE_VERSION) runtime > $(GLUE_VENV)/runtime.txt
	$(BIN)/python -m include.runtimes glue-requirements $(GLUE_VERSION) job > $(GLUE_VENV)/job.txt
	# as Glue does: its own packages first, then pip3 install of --additional-python-modules (uv of .venv)
	$(BIN)/uv pip install -q --python $(GLUE_VENV)/bin/python -r $(GLUE_VENV)/runtime.txt
	$(BIN)/uv pip install -q --python $(GLUE_VENV)/bin/python -r $(GLUE_VENV)/job.txt
	touch $@

$(SM_STAMP): docker/sagemaker/requirements.txt | $(STAMP)
	@command -v $(SAGEMAKER_PYTHON) >/dev/null || { echo "the SageMaker image contract venv needs $(SAGEMAKER_PYTHON) (Python 3.12, the image's): pyenv install 3.12, or make SAGEMAKER_PYTHON=/path/to/python3.12"; exit 1; }
	rm -rf $(SM_VENV) && $(SAGEMAKER_PYTHON) -m venv $(SM_VENV)
	$(BIN)/uv pip install -q --python $(SM_VENV)/bin/python --no-deps -r docker/sagemaker/requirements.txt
	$(BIN)/uv pip check -q --python $(SM_VENV)/bin/python
	touch $@

# both contract venvs, their installs run in parallel (tests/runtimes fails, naming this target, without them)
runtime-venvs: $(STAMP)
	@$(MAKE) --no-print-directory -j2 $(GLUE_STAMP) $(SM_STAMP)

# regenerate docker/sagemaker/requirements.txt from requirements.txt (tests/runtimes/test_sagemaker_image.py checks it)
sagemaker-image-requirements: $(STAMP)
	$(BIN)/python -m include.runtimes image-requirements > docker/sagemaker/requirements.txt

# build the SageMaker image (docker/sagemaker), push it to the stack's ECR repository, print NLPOPS_SAGEMAKER_IMAGE_URI
sagemaker-image: $(STAMP)
	$(BIN)/python scripts/sagemaker_image.py $(if $(STACK),--stack $(STACK))

# Debian's PostgreSQL server for the results-in-PostgreSQL tests and benchmark (tests/pgcluster.py
# starts a private cluster on loopback; it installs the package itself too when run as root).
# The dpkg lock timeout lets it run beside browser-deps (make test-deps runs them in parallel).
pg-deps:
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "pg-deps: PostgreSQL server missing and not root: the Postgres tests will be skipped (apt-get install postgresql)"; \
	elif ! command -v apt-get >/dev/null; then \
	  echo "pg-deps: PostgreSQL server missing and no apt-get here: the Postgres tests will be skipped"; \
	else apt-get -o DPkg::Lock::Timeout=600 update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq postgresql; fi

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
	$(BIN)/uv cache prune -q
	$(BIN)/python scripts/demo.py

# The category-evolution loop (new topic -> clusters -> HITL answer through the REST API -> retrain);
# separate from `make demo` to keep that one short. Airflow home: .airflow-categories
.PHONY: demo-categories
demo-categories: check-java
	$(BIN)/python scripts/demo_categories.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy include etl ml plugins/nlpops dags scripts

# the unit tests only: no Airflow runs, no moto, no fault injection, no browser, no tool venvs
unit: check-java
	$(BIN)/pytest tests/unit tests/dags -m "not (e2e or aws or reliability or ui)" -q

e2e: check-java
	$(BIN)/pytest -m e2e -q

# Everything the whole suite needs installed, built concurrently by `make test` (installs wait on the
# network and on dpkg more than on the CPU): a new venv or system package for the tests goes here.
TEST_DEPS := $(STAMP) $(IAC_STAMP) browser-deps pg-deps runtime-venvs

# After the installs, drop what uv's cache no longer references: the package proxy here answers every revalidation
# of an sdist as "modified", so each install leaves another 0.5-1.4 GB pyspark build behind (measured:
# 52 GiB after a few dozen installs filled the disk CI shares). prune keeps every current entry.
test-deps:
	@$(MAKE) --no-print-directory -j -O $(TEST_DEPS)
	$(BIN)/uv cache prune -q

test: test-deps
	@$(MAKE) --no-print-directory -j3 -O lint typecheck check-java
	$(BIN)/pytest -q --durations=30

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

# process files again on purpose (the ledger keys them by content: touching a file does nothing)
reprocess: $(STAMP)
	$(BIN)/python scripts/reprocess.py --profile "$(PROFILE)" --zone "$(or $(ZONE),raw)" "$(or $(MATCH),*)"

# Before the first paid job on AWS: settings, buckets (encryption, policy), roles (pass), image (pins),
# Glue database, Athena workgroup, SNS topic, with the aws_default connection (nlpops/aws/preflight.py)
.PHONY: aws-preflight
aws-preflight: $(STAMP)
	$(BIN)/python -m nlpops.aws.preflight

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(AIRFLOW_HOME)/mlflow.db" --host 127.0.0.1 --port 5000

clean:
	rm -rf .airflow .mypy_cache .ruff_cache .pytest_cache
