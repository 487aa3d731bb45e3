#!/bin/bash
# `make lock`: resolve requirements.in in a throw-away venv and write requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check -r requirements.in
{
  echo "# Locked from requirements.in by \`make lock\` (pip freeze of a clean venv). Edit requirements.in, not this."
  "$tmp/venv/bin/pip" freeze --all
} > requirements.txt
echo "lock: wrote requirements.txt ($(grep -vc '^#' requirements.txt) packages)"
