#!/usr/bin/env bash
# Installs the Debian packages otrig needs, when they are missing.
# Not root or not Debian: print what to install instead of failing halfway.
set -euo pipefail
need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-eng)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "otrig needs these system packages, please install them: ${need[*]}" >&2
  echo "(on Debian/Ubuntu: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
