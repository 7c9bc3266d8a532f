# ivr-app: every target installs what it needs by itself (venv, packages, PostgreSQL binaries).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: dev test test-fs lint demo bench schema-dump clean tools

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## dev: virtualenv with an editable install and the dev tools
dev: $(STAMP)

## tools: PostgreSQL, espeak-ng and sox from Debian packages when missing
tools:
	@sh scripts/ensure-tools.sh

## lint: ruff
lint: dev
	$(VENV)/bin/ruff check .

## test: lint + the whole test suite (starts a throwaway PostgreSQL when DATABASE_URL does not answer)
test: dev tools lint
	$(PY) -m pytest

## demo: throwaway PostgreSQL + the FreeSWITCH simulator + ivr-app serve: two narrated calls
demo: dev tools
	$(PY) -m ivr_app.testing.pgcluster run -- $(PY) -m ivr_app.testing.demo --data config/demo-data.yaml

## bench: benchmarks (not part of CI), figures written to BENCHMARKS.md
bench: dev
	$(PY) -m benchmarks.esl_bench
	$(PY) -m benchmarks.recording_bench
	$(PY) -m benchmarks.followme_bench
	$(PY) -m benchmarks.queue_bench
	$(PY) -m benchmarks.menu_bench

## schema-dump: rewrite tests/fixtures/schema.sql from the migrations (after adding a migration)
schema-dump: dev tools
	$(PY) -m ivr_app.testing.pgcluster run -- $(PY) -m ivr_app.testing.schema_dump tests/fixtures/schema.sql

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

## test-fs: the flows on a real FreeSWITCH 1.10 with SIPp calls (tests_fs/README.md; not in CI)
test-fs: dev tools
	$(PY) -m pytest -c tests_fs/pytest.ini --rootdir=. -p no:cacheprovider tests_fs
