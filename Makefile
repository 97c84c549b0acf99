# The two README commands: `make demo` and `make test`. Both set everything up first.
VENV ?= .venv
PY := $(VENV)/bin/python
OTRIG := $(VENV)/bin/otrig

.PHONY: setup system venv demo test bench bench-smoke wheel-check model clean

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

# types first (mypy engine cli, configured in pyproject.toml), then the suite
test: setup
	$(PY) -m mypy
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run

# bench/run --quick as a test: left out of `make test`, run on its own by CI (.ci/run)
bench-smoke: setup
	$(PY) -m pytest -q -m bench tests/test_bench.py

# build the wheel, install it in a fresh venv outside the checkout, run demo and report there
wheel-check: setup
	bash scripts/check-wheel.sh

# retrain the built-in digit reader (engine/vision/digits_model.npz) from the fonts Debian ships
# (scripts/train_digits.py lists them in APT_PACKAGES; installed here when root on Debian) with
# PyTorch (the `model` extra); rendered glyphs are cached in /tmp/otrig-digit-glyphs
model: setup
	$(PY) -m pip install -q '.[model]'
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$($(PY) scripts/train_digits.py --print-packages); fi
	$(PY) scripts/train_digits.py

clean:
	rm -rf $(VENV) out
