#!/usr/bin/env bash
# Install the real Bluesky PDS (Node) for the Bluesky tests, once, into a cache folder
# outside the repository: $CIVICPOST_PDS_DIR (default ~/.cache/civicpost/bluesky-pds).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="${CIVICPOST_PDS_DIR:-$HOME/.cache/civicpost/bluesky-pds}"
if [ -d "$dir/node_modules/@atproto/pds" ]; then
  echo "bluesky PDS: already installed in $dir"
else
  bash "$here/.ci/bluesky-pds/pds.sh" install "$dir"
  echo "bluesky PDS: installed in $dir"
fi
