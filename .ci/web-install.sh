#!/usr/bin/env bash
# axe-core (npm) for the web page's accessibility test (tests/test_web_a11y.py), installed
# once into a cache folder outside the repository: $CIVICPOST_AXE_DIR (default
# ~/.cache/civicpost/axe).  Chromium itself comes from .ci/browser-install.sh (Debian).
set -euo pipefail
dir="${CIVICPOST_AXE_DIR:-$HOME/.cache/civicpost/axe}"
version="4.11.0"
if [ -f "$dir/node_modules/axe-core/axe.min.js" ] && \
   grep -q "\"version\": \"$version\"" "$dir/node_modules/axe-core/package.json"; then
  echo "axe-core: already installed in $dir"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then          # Node.js and npm from Debian if the machine lacks them
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$dir"
npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$version" >/dev/null
echo "axe-core: installed in $dir"
