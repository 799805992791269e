# Layerloom: one command sets everything up and runs the app, one sets everything up and runs the tests.
#   make run    - create .venv if missing, install Layerloom, open the window
#   make test   - the same set-up plus Qt's system libraries, then the whole test suite (a small fuzz budget included)
#   make fuzz   - the long fuzz run: 5000 mutated inputs (FUZZ_ARGS="--cases 20000 --seed 7" for another)
# Both are idempotent and quiet once set up.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.layerloom-installed

.PHONY: run test lint bench fuzz setup sysdeps clean package

run: setup
	$(VENV)/bin/layerloom $(ARGS)

test: setup sysdeps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)
	$(VENV)/bin/ruff check .

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/run_all.py

fuzz: setup
	$(PY) fuzz/run_fuzz.py --cases 5000 $(FUZZ_ARGS)

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The desktop app as one folder: dist/Layerloom/ (Linux, Windows) or dist/Layerloom.app (macOS), with PyInstaller.
# Takes a few minutes; check the result with packaging/smoke.sh (see README, "Packaging").
package: setup
	@$(PY) -c "import PyInstaller" 2>/dev/null || $(PY) -m pip install -q 'pyinstaller>=6.10'
	@test -f resources/icons/app/layerloom.icns || $(PY) packaging/render_icons.py
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/pyinstaller/layerloom.spec
	@echo "Built dist/Layerloom ($$(du -sh dist/Layerloom 2>/dev/null | cut -f1)); check it with packaging/smoke.sh"

# Qt needs a few system libraries that a bare Debian lacks; install only what is missing.
sysdeps:
	@bash packaging/install_system_deps.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
