# Two commands on a fresh machine: `make demo`, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

VENV := .venv
PYTHON := $(VENV)/bin/python
BACKENDS := tensorflow jax torch
# pip's notes about absent local mirror folders are noise on these machines.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install demo lint test test-all benchmark clean

# The exact versions tested (constraints.txt) under the package's compatible ranges (pyproject.toml).
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[all]' $(PIP_QUIET)
	touch $@

install: $(VENV)/.installed

# The main job, examples/babi_long.py (a script to read top to bottom): long bAbI task 1 (100-sentence stories), the
# plain memory (rehearsal off: it has not yet beaten the plain memory here), 6 epochs of 8,000 fresh stories (the
# first 2 short: a length curriculum). `python -m experiments.babi_long` is the same job with every setting a flag.
# Under JAX (the default here) Keras imports no TensorFlow, so each program silences TensorFlow's C++ notices when
# it imports it (under the TensorFlow backend `import keras` prints them first).
demo: install
	TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PYTHON) -m examples.babi_long --task=1 \
		--length=100 --epochs=6 --output_dir=output/demo
	TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PYTHON) -m examples.serve_stream \
		--model_dir=output/demo --length=100 --questions=4

# The suite runs once per backend (KERAS_BACKEND is fixed per process), all at once: much of a test's time is
# single-threaded tracing and compiling, so the processes share the cores well. Each backend runs as two halves of
# the files, by first letter after `test_` (a-e and l, the rest; about equal under JAX and TF, torch's second is
# lighter), so that no job is left alone on the cores at the end (with torch whole, it ran alone for its last 1.7
# minutes of 11.5, on a fresh clone). Each job's log, with its slowest tests, is printed in turn. One OpenMP
# thread a job: with four jobs on the cores, PyTorch's spinning thread pool made its small ops 10-50x slower (the
# learning test took 366 s instead of 67 s).
TEST_JOBS := jax:a-el jax:f-km-z torch:a-el torch:f-km-z tensorflow:a-el tensorflow:f-km-z

test: install
	@mkdir -p .cache; pids=""; for job in $(TEST_JOBS); do \
		backend=$${job%%:*}; files=tests; \
		if [ "$$job" != "$$backend" ]; then files=$$(ls tests/test_[$${job#*:}]*.py); fi; \
		OMP_NUM_THREADS=1 KERAS_BACKEND=$$backend $(PYTHON) -m pytest -q --durations=8 $$files $(PYTEST_ARGS) \
			> .cache/test-$${job/:/-}.log 2>&1 & pids="$$pids $$!"; \
	done; \
	failed=""; set -- $$pids; for job in $(TEST_JOBS); do \
		wait $$1 || failed="$$failed $$job"; shift; \
		echo "=== KERAS_BACKEND=$$job"; cat .cache/test-$${job/:/-}.log; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED on:$$failed"; exit 1; fi

# ruff, configured in pyproject.toml: lint rules and the formatter's layout.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-all:
	$(MAKE) test PYTEST_ARGS="-m ''"

# Each benchmark runs every backend in its own process and writes benchmarks/results/.
benchmark: install
	$(PYTHON) -m benchmarks.throughput

clean:
	rm -rf $(VENV) .pytest_cache
