# The two README commands: `make demo` and `make test`. Both set everything up first.
VENV ?= .venv
PY := $(VENV)/bin/python
OTRIG := $(VENV)/bin/otrig

.PHONY: setup system venv demo test bench clean

setup: system venv

# Debian packages: tesseract (OCR), ffmpeg (video), chromium (report browser test).
system:
	@bash scripts/system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

demo: setup
	$(OTRIG) demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run

clean:
	rm -rf $(VENV) out
