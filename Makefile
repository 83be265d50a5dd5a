# GridWatch: `make run` starts the demo, `make test` runs the whole suite.
# Both build what they need first: the virtual environment (from pyproject.toml, pinned by
# constraints.txt) and the assets (model weights and demo footage, checked by SHA-256).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export GRIDWATCH_DATA_DIR ?= $(HOME)/.cache/gridwatch/data
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR ?= $(HOME)/.cache/gridwatch/ultralytics
export PYTHONPATH := $(CURDIR)

# The stamp names the inputs of the environment: change one (or move the checkout) and it is
# brought up to date; otherwise a cached environment is used as it is.
ENV_KEY := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)-$(shell echo $(CURDIR) | sha256sum | cut -c1-8)
STAMP := $(VENV)/.gridwatch-$(ENV_KEY)

.PHONY: run test lint format venv assets bench clean system-deps

run: venv assets
	$(BIN)/python -m gridwatch run

# The ingest tests run a real RTSP server (GStreamer, from Debian packages).
# Two parts: most tests wait on servers, browsers and databases and share the cores
# (TEST_JOBS processes); those that run the model, measure rates and delays, or change the
# machine's network (markers `slow`, `timing` and `hostnet`) run afterwards, alone. The slowest
# of each part are listed.
TEST_JOBS ?= 3
test: system-deps venv assets
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile -m "not slow and not timing and not hostnet" --durations=15
	$(BIN)/python -m pytest -m "slow or timing or hostnet" --durations=15

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.gridwatch-*
	@touch $@

system-deps:
	bash scripts/system-deps.sh

assets: venv
	$(BIN)/python -m gridwatch assets fetch

bench: venv assets
	$(BIN)/python bench/inference.py
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/time_to_first_event.py
	$(BIN)/python bench/api.py

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
