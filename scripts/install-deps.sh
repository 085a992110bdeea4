#!/usr/bin/env bash
# Installs what Seawall needs on a Debian (bookworm) machine, skipping whatever is already there.
#
#   scripts/install-deps.sh            build dependencies + test dependencies + Python venv
#   scripts/install-deps.sh --build    build dependencies only (what `scripts/demo.sh` needs)
#
# Runs as root, or through sudo when not root. Safe to run again: it installs only what is
# missing and runs `apt-get update` at most once. The Rust toolchain is expected to be installed
# already (rustup); this script never downloads a toolchain.
#
# The browser test uses Debian's `chromium` and `chromium-driver` packages, driven by Selenium
# from PyPI with the driver path set explicitly to /usr/bin/chromedriver, so Selenium never
# downloads a driver or a browser.
set -euo pipefail

mode=all
case "${1:-}" in
  --build) mode=build ;;
  "" | --all) ;;
  *) echo "usage: $0 [--build|--all]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: not root and no sudo; install packages by hand" >&2
    exit 2
  fi
fi

log() { echo "install-deps: $*"; }

# Debian packages: build dependencies, then the tools the tests drive.
build_pkgs=(pkg-config gcc libc6-dev make ca-certificates git curl)
test_pkgs=(nginx chromium chromium-driver wrk postgresql sqlite3 python3 python3-venv python3-pip)
pkgs=("${build_pkgs[@]}")
if [ "$mode" = all ]; then
  pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages already installed"
fi

# The Rust toolchain must be there already.
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
    exit 2
  fi
fi
for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      log "adding rustup component $comp"
      rustup component add "$comp" >/dev/null 2>&1 || log "could not add $comp (offline?)"
    fi
  fi
done

if [ "$mode" = build ]; then
  log "build dependencies ready"
  exit 0
fi

# Python virtual environment for the end-to-end tests.
venv="$repo/.venv"
req="$repo/tests/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "creating Python venv at .venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
# Keep the venv out of git even though .gitignore is not ours to edit.
[ -f "$venv/.gitignore" ] || echo '*' >"$venv/.gitignore"
want="$(sha256sum "$req" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  log "installing Python packages from tests/requirements.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
else
  log "Python packages already installed"
fi

# Check that the browser and its driver match (chromedriver refuses a different major).
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  b="$(chromium --version 2>/dev/null | grep -oE '[0-9]+' | head -1 || true)"
  d="$(chromedriver --version 2>/dev/null | grep -oE '[0-9]+' | head -1 || true)"
  if [ -n "$b" ] && [ "$b" != "$d" ]; then
    log "warning: chromium $b and chromedriver $d differ; the browser test may fail"
  fi
fi
log "test dependencies ready"
