# Two commands do all set-up: `make demo` and `make test`.
# Each creates .venv with the system python when it is missing and installs the project
# with its test extras (again whenever pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# the main job itself is `qxg demo` (spatial/demo.py), so it runs the same on Windows without make
demo: $(STAMP)
	$(BIN)/qxg demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) maps/*.html exports .pytest_cache
