# The two commands of the README, and a few more.
PYTHON ?= python3

.PHONY: demo examples test install lint bench

# Run the quick-start notebook headless on the local backend and print its logs and results.
# The same environment runs every example (make examples).
demo:
	$(PYTHON) -m pip install -q -e '.[examples]'
	FAIRING_UI=text $(PYTHON) -m fairing_magics.cli run examples/quickstart.ipynb

# Every notebook of examples/, headless, in the environment make demo installs.
examples:
	$(PYTHON) -m pip install -q -e '.[examples]'
	@for nb in examples/*.ipynb; do FAIRING_UI=text $(PYTHON) -m fairing_magics.cli run $$nb || exit 1; done

# The whole test suite (lint, unit and end-to-end). End-to-end tests need the services that
# .ci/run installs; in CI (CI=true) a skipped end-to-end test is a failure.
test:
	$(PYTHON) -m pip install -q -e '.[dev]'
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check .

# Every benchmark prints its figures and a ratio against a baseline measured in the same run.
bench:
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PYTHON) $$f || exit 1; done
