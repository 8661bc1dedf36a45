# retain: the two front-door commands are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint venv clean

venv: $(STAMP)

# The virtual environment is rebuilt only when the lock or the project file changes. Its packages
# are compiled to bytecode once here: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise
# compile Feast, MLflow and BentoML from source in every process (about twice the import time).
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	@echo "installing the locked dependencies into $(VENV) ..."
	@$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --config-settings editable_mode=compat -e .
	@touch $(STAMP)

demo: venv
	$(BIN)/retain demo

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check retain simulator ingest features training serving monitoring evaluation benchmarks tests
	$(BIN)/mypy retain simulator ingest features training serving monitoring evaluation benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .retain
