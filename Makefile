# One place for set-up, running and testing; CI runs `make test` too.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps run test test-faults lint typecheck unit integration bench kafka-up kafka-down clean

# Java 17 and Maven run the local broker; docker-compose only checks docker-compose.yml; gcc
# compiles the profile replay (setup.py).
system-deps:
	@command -v java >/dev/null && command -v mvn >/dev/null && command -v docker-compose >/dev/null \
	  && command -v gcc >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       openjdk-17-jre-headless maven docker-compose gcc >/dev/null; }

# setup.py compiles detectors/_replay.py (mypyc) and detectors/_forest_kernel.pyx (Cython): an
# edit to either needs a reinstall.
$(STAMP): pyproject.toml setup.py detectors/_replay.py detectors/_forest_kernel.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: system-deps $(STAMP)

run: install
	$(BIN)/clearance demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The subpackages live beside clearance/ and are mapped into it at install (pyproject.toml), which
# mypy cannot follow: it checks a tree of links laid out as the installed package, so imports of
# clearance.* are typed. Its paths read clearance/<package>/..., the sources are in <package>/.
# The subpackages' folders are read from pyproject.toml's package-dir, so none is left out.
PACKAGES = $(shell $(PYTHON) -c "import tomllib; dirs = tomllib.load(open('pyproject.toml', 'rb'))['tool']['setuptools']['package-dir']; print(*(d for n, d in dirs.items() if n != 'clearance'))")
typecheck: install
	rm -rf build/typecheck && mkdir -p build/typecheck/clearance
	ln -s $(CURDIR)/clearance/*.py build/typecheck/clearance/
	for p in $(PACKAGES); do ln -s $(CURDIR)/$$p build/typecheck/clearance/$$p; done
	cd build/typecheck && $(abspath $(BIN))/mypy --config-file $(CURDIR)/pyproject.toml -p clearance

# Here the compiled hot paths must have been built: their tests fail instead of skipping.
test: install lint typecheck
	REQUIRE_COMPILED=1 $(BIN)/pytest -q --timeout=900 -m "not faults"

# Crashes, broker restart, store outage, hostile input, backpressure on the real broker (about
# 15 minutes on two shared cores): their own target, so `make test` stays short. CI runs both.
test-faults: install
	$(BIN)/pytest -q -s --timeout=1800 -m faults tests/faults

unit: install
	$(BIN)/pytest -q -m "not integration"

integration: install
	$(BIN)/pytest -q -m "integration and not faults"

bench: install
	$(BIN)/clearance bench

kafka-up: install
	$(BIN)/clearance kafka up

kafka-down: install
	$(BIN)/clearance kafka down

clean:
	rm -rf data build *.egg-info detectors/*.so
