# make train / make test create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SPEC ?= specs/mnist_cnn.yaml

.PHONY: setup train test app check lint bench schema clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[app,test]'
	touch $@

train: setup
	$(PY) -m playground.train $(SPEC) $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

app: setup
	$(VENV)/bin/streamlit run app.py

check: setup
	$(PY) -m playground.check specs/*.yaml

lint: setup
	$(PY) -m pip install --quiet ruff
	$(PY) -m ruff check playground app.py tests bench examples

bench: setup
	$(PY) bench/check_speed.py
	$(PY) bench/edit_speed.py

schema: setup
	$(PY) -m playground.schema --out spec.schema.json

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
