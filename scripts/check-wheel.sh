#!/usr/bin/env bash
# A normal install works outside the checkout: build the wheel, install it into a fresh
# virtualenv in a temporary folder, and run `otrig demo` (which serves, streams and renders
# the report) and `otrig report` from there. The shipped games and the report template
# travel as package data; a wheel without them fails here.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/otrig-wheel.XXXXXX)"
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$repo"
"$work/venv/bin/python" -m pip install -q "$work"/dist/otrig-*.whl
cd "$work"  # nothing of the checkout is on the path from here
"$work/venv/bin/otrig" demo --out "$work/demo-out"
"$work/venv/bin/otrig" report "$work/demo-out/recording" -o "$work/report-again.html"
test -s "$work/report-again.html"
"$work/venv/bin/otrig" check demo --assets "$work/demo-out/assets"   # a shipped game found by its name
echo "wheel check: installed from $(ls "$work"/dist), demo and report ran outside the checkout"
