#!/usr/bin/env bash
# Headless Chromium (Debian package) for the calendar page's browser test.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "chromium: installed"
