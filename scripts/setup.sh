#!/bin/bash
# `make setup`: install what the control node needs, idempotently and fast on a re-run.
#  1. Debian packages listed in scripts/debian-packages.txt (apt only when one is missing);
#  2. a virtualenv in .venv from the locked requirements.txt, re-made only when
#     requirements.txt, pyproject.toml or the Python version change;
#  3. promtool and amtool in .cache/tools/bin, taken out of Debian's prometheus and
#     prometheus-alertmanager packages (installing those would start both daemons on the
#     control node): the unit tier checks the rules and routes with the very versions the
#     monitor tier runs.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(grep -v '^\s*#' scripts/debian-packages.txt | grep -v '^\s*$')
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run 'sudo apt-get install ${missing[*]}' or run make setup as root" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=/usr/bin/python3
stamp=.venv/.pmops-stamp
want=$( { sha256sum requirements.txt pyproject.toml; "$python" --version; } | sha256sum | cut -c1-16)
if [[ -L .venv || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: building .venv from requirements.txt (a few minutes the first time)"
  if [[ -L .venv ]]; then rm -f .venv; fi
  if [[ ! -x .venv/bin/python ]]; then "$python" -m venv .venv; fi
  # (pip warnings about this machine's extra index folders are noise; errors still show)
  # --no-compile: Python compiles what it imports, on first use; byte-compiling every
  # collection the ansible package bundles, up front, took 20 s of a 58 s install.
  .venv/bin/pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
  echo "$want" > "$stamp"
fi
tools=.cache/tools
want=$(apt-cache policy prometheus prometheus-alertmanager | sed -n 's/^  Candidate: //p' | tr '\n' ' ')
if [[ ! -x $tools/bin/promtool || ! -x $tools/bin/amtool || $(cat "$tools/.stamp" 2>/dev/null) != "$want" ]]; then
  echo "setup: taking promtool and amtool out of Debian's packages ($want)"
  rm -rf "$tools" && mkdir -p "$tools/debs" "$tools/bin"
  (cd "$tools/debs" && apt-get download -q prometheus prometheus-alertmanager 2> >(grep -v "unsandboxed" >&2) >/dev/null)
  # Deliberate `|| true`: each package holds one of the two tools, and tar exits 1 for the
  # one it lacks; the check below fails loudly if either is missing after both.
  for deb in "$tools"/debs/*.deb; do dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tools/bin" --strip-components=3 ./usr/bin/promtool ./usr/bin/amtool 2>/dev/null || true; done
  rm -rf "$tools/debs"
  [[ -x $tools/bin/promtool && -x $tools/bin/amtool ]] || { echo "setup: promtool or amtool missing after extraction" >&2; exit 1; }
  echo "$want" > "$tools/.stamp"
fi

echo "setup: ok ($(.venv/bin/ansible --version | sed -n 1p), pmops $(.venv/bin/pmops --version | cut -d' ' -f2))"
