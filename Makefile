# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# test workers: one more than the cores, as the browser tests' worker waits on the app and Chromium a lot
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

.PHONY: run serve test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

# A class that outgrows one server: one app server per core behind nginx (sticky sessions).
serve: $(VENV)/.runtime
	$(BIN)/python -m deploy.serve --listen $(PORT) $(if $(SERVERS),--servers $(SERVERS))

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(WORKERS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev
	$(BIN)/python -m bench.overhead
	$(BIN)/python -m bench.race
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.classroom

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/artifacts .serve
