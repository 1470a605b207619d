# strangler — the two commands a newcomer needs:  make demo   and   make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PARTS  := core connectors schema_registry materializers cli

.PHONY: setup system-deps venv kafka-jars demo test test-unit lint typecheck format clean

setup: system-deps venv kafka-jars

system-deps:
	bash scripts/install-system-deps.sh

venv: $(VENV)/.installed

# the C sources too: an editable install builds the native modules in place, once
$(VENV)/.installed: pyproject.toml setup.py $(wildcard */*.c */*/*.c)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

kafka-jars: venv
	$(VENV)/bin/strangler dev prepare

demo: setup
	$(VENV)/bin/strangler dev up
	$(PY) examples/product-catalogue/demo.py

test: setup
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest -m unit

# mypy maps module names to folders; the parts install as strangler.<part>, so give it that tree
build/typecheck/strangler:
	mkdir -p $@
	for p in $(PARTS); do ln -sfn ../../../$$p $@/$$p; done

typecheck: venv build/typecheck/strangler
	$(VENV)/bin/mypy -p strangler
	$(VENV)/bin/mypy tests $(wildcard benchmarks/*.py)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) typecheck

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find $(PARTS) -name '*.so' -delete
