# make train / make test create the virtual environment on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
SPEC ?= specs/mnist_cnn.yaml

.PHONY: setup train test test-long mutants app check lint bench schema clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[app,test]'
	touch $@

train: setup
	$(PY) -m playground.train $(SPEC) $(ARGS)

# In parallel, a test file per worker (the browser tests share one page server); ARGS="-n 0" runs one at a time.
test: setup
	$(PY) -m pytest -n auto --dist loadfile $(ARGS)

# Property tests with many more examples than CI's fixed, derandomized set, and the outputs
# of every zoo file (CI compares those up to 135M parameters, the structure of the rest).
test-long: setup
	HYPOTHESIS_PROFILE=long PLAYGROUND_LONG=1 $(PY) -m pytest tests/test_property.py tests/test_document.py tests/test_fuzz.py \
		tests/test_zoo.py $(ARGS)

# Mutation testing of the core (not in CI: about three hours on two cores from scratch;
# reruns retest only the functions that changed). Prints the
# score per module; survivors need a test or a line in docs/mutants.md.
mutants: setup
	$(PY) -m pip install --quiet -e ".[dev]"
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HYPOTHESIS_PROFILE=mutants $(VENV)/bin/mutmut run --max-children 2
	$(PY) scripts/mutation_scores.py

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
	rm -rf $(VENV) .pytest_cache .hypothesis mutants
