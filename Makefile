# volpanel: `make run` serves the dashboard on the embedded demo cloud; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMOCLOUD_PORT ?= 8780
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium
# Production runs on PostgreSQL: the suite runs there too (pytest-django creates and drops test_<name>).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/volpanel

.PHONY: run test lint test-fast test-browser test-postgres test-realcloud screenshots realcloud-up realcloud-down democloud clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

$(CHROMIUM):
	# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	@mkdir -p .run; \
	$(BIN)/python -m volpanel.democloud --port $(DEMOCLOUD_PORT) > .run/democloud.log 2>&1 & demo=$$!; \
	trap 'kill $$demo 2>/dev/null' EXIT INT TERM; \
	echo "volpanel: http://127.0.0.1:$(PORT)  — demo cloud users alice, bob, carol, admin; password: demo"; \
	DEMOCLOUD_PORT=$(DEMOCLOUD_PORT) $(BIN)/gunicorn volpanel.asgi:application -c volpanel/gunicorn.conf.py \
		--bind 127.0.0.1:$(PORT)

democloud: $(STAMP)
	$(BIN)/python -m volpanel.democloud --port $(DEMOCLOUD_PORT)

# The real cloud's install (a couple of minutes, mostly pip) runs behind the first suite; up.sh's lock makes
# test-realcloud wait for it. The PostgreSQL and real-cloud suites spend most of their time waiting (on
# databases, streams, real Cinder), so they run side by side; the real cloud's output follows PostgreSQL's.
test: $(STAMP) $(CHROMIUM)
	@mkdir -p .cache/realcloud && (REALCLOUD_INSTALL_ONLY=1 bash tests/realcloud/up.sh \
		> .cache/realcloud/install.log 2>&1 &)
	@$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest
	@$(MAKE) --no-print-directory test-realcloud > .cache/test-realcloud.log 2>&1 & cloud=$$!; \
	echo "(the real-cloud suite runs alongside: .cache/test-realcloud.log)"; \
	$(MAKE) --no-print-directory test-postgres; postgres=$$?; \
	wait $$cloud; realcloud=$$?; \
	echo "--- the real-cloud suite (.cache/test-realcloud.log):"; cat .cache/test-realcloud.log; \
	echo "PostgreSQL suite: exit $$postgres; real-cloud suite: exit $$realcloud"; \
	[ $$postgres = 0 ] && [ $$realcloud = 0 ]

# The static checks, configured in pyproject.toml: mypy with django-stubs over volpanel/, ruff over the tree.
lint: $(STAMP)
	$(BIN)/mypy
	$(BIN)/ruff check .

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser"

test-browser: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -m browser

# The suite again on PostgreSQL (browser and image tests excepted: they use no PostgreSQL; an explicit -m
# replaces pytest.ini's, so the real-cloud marker is left out here too).
# Skipped with a note where no PostgreSQL answers, unless POSTGRES_REQUIRED=1 (CI sets it).
test-postgres: $(STAMP)
	@if $(BIN)/python -c "import psycopg, sys; psycopg.connect(sys.argv[1].rsplit('/', 1)[0] + '/postgres', \
			connect_timeout=3).close()" "$(TEST_POSTGRES_URL)" 2>/dev/null; then \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m pytest -m "not browser and not image and not realcloud"; \
	elif [ "$${POSTGRES_REQUIRED:-0}" = 1 ]; then \
		echo "PostgreSQL does not answer at $(TEST_POSTGRES_URL)"; exit 1; \
	else \
		echo "NOTE: no PostgreSQL at $(TEST_POSTGRES_URL); the suite did not run on PostgreSQL."; \
	fi

# The README's pictures, taken from the live server in Chromium (tests/e2e/screenshots.py): re-run after the
# pages change; it rewrites docs/screenshots/*.png.
screenshots: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q tests/e2e/screenshots.py

realcloud-up:
	bash tests/realcloud/up.sh

realcloud-down:
	bash tests/realcloud/down.sh

# Real Keystone + Cinder + Glance + Nova + Placement from PyPI (tests/realcloud/up.sh, ~2.5 min from empty,
# seconds when cached).
# Where they cannot be installed the suite is skipped with a note, unless REALCLOUD_REQUIRED=1 (CI sets it).
test-realcloud: $(STAMP)
	@if bash tests/realcloud/up.sh; then \
		$(BIN)/python -m pytest -m realcloud tests/realcloud tests/contract; \
	elif [ "$${REALCLOUD_REQUIRED:-0}" = 1 ]; then \
		echo "the real cloud could not be started (see .cache/realcloud/log/)"; exit 1; \
	else \
		echo "NOTE: the real cloud could not be installed here; the realcloud suite did not run."; \
	fi

clean:
	rm -rf $(VENV) .run staticfiles db.sqlite3 .pytest_cache
