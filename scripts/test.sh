#!/usr/bin/env bash
# Installs the test dependencies and runs every test: formatting, clippy, the Rust unit and
# integration tests, then the end-to-end suite (tests/e2e, pytest) against the binary built by the
# same (debug) profile as the tests, so the dependencies are compiled once.
#
#   scripts/test.sh                 everything
#   SKIP_INSTALL=1 scripts/test.sh  do not run scripts/install-deps.sh first
#   PYTEST_ARGS="-k totp" scripts/test.sh   extra arguments for pytest
#
# The vault tests need PostgreSQL: the script starts a throw-away cluster (scripts/pg-test.sh)
# and exports its URL as SEAWALL_TEST_PG_URL.
#
# Every step runs even when an earlier one failed (except those that need the binary when the
# build failed); the summary at the end lists each step, and the exit code is non-zero when any
# step failed. `.ci/run` calls this script.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0
# Two cores: keep cargo and the test runners from starving each other.
jobs="$(nproc 2>/dev/null || echo 2)"

names=()
results=()
times=()
failed=0

step() {
  # step NAME COMMAND... : runs the command, records PASS/FAIL and the time it took.
  local name="$1"
  shift
  echo
  echo "==> $name: $*"
  local start=$SECONDS
  "$@"
  local rc=$?
  local took=$((SECONDS - start))
  names+=("$name")
  times+=("$took")
  if [ "$rc" -eq 0 ]; then
    results+=("PASS")
  else
    results+=("FAIL (exit $rc)")
    failed=$((failed + 1))
  fi
  return "$rc"
}

skip() {
  names+=("$1")
  times+=(0)
  results+=("SKIP ($2)")
  echo
  echo "==> $1: skipped: $2"
}

summary() {
  echo
  echo "================ summary ================"
  local i passed=0
  for i in "${!names[@]}"; do
    printf '  %-28s %-16s %5ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    case "${results[$i]}" in PASS) passed=$((passed + 1)) ;; esac
  done
  echo "========================================="
  echo "steps: $passed passed, $failed failed"
}

# 1. Dependencies.
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  if ! step "install dependencies" bash scripts/install-deps.sh; then
    summary
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
bin="$target_dir/debug/seawall"

# 2. Build the binary once, and the test binaries.
have_bin_crate=0
if [ -f crates/seawall/Cargo.toml ]; then
  have_bin_crate=1
fi
built=0
if [ "$have_bin_crate" = 1 ]; then
  step "build binary" cargo build -j "$jobs" --bin seawall && built=1
else
  skip "build binary" "crates/seawall does not exist yet"
fi
step "build test binaries" cargo test --workspace -j "$jobs" --no-run

# 3. Static checks.
step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy" cargo clippy --workspace --all-targets -j "$jobs" -- -D warnings

# 4. A throw-away PostgreSQL cluster (127.0.0.1:55432) for the vault's database tests, Rust and
#    end-to-end; removed when this script exits.
start_pg() {
  local url
  url="$(bash scripts/pg-test.sh start)" || return 1
  export SEAWALL_TEST_PG_URL="$url"
}
trap 'bash scripts/pg-test.sh stop >/dev/null 2>&1 || true' EXIT
step "start PostgreSQL" start_pg

# 5. Rust tests.
step "cargo test" cargo test --workspace -j "$jobs"

# 6. End-to-end tests against the real binary.
run_e2e() {
  local rc
  # The venv's tools (pyspdxtools, ...) are run by name from the tests.
  PATH="$repo/.venv/bin:$PATH" SEAWALL_BIN="$bin" "$repo/.venv/bin/python" -m pytest tests/e2e -q -rfEs --durations=10 \
    -p no:cacheprovider ${PYTEST_ARGS:-}
  rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests"
  fi
  return "$rc"
}
if [ "$built" = 1 ] && [ -x "$bin" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then
    step "e2e (pytest)" run_e2e
  else
    skip "e2e (pytest)" "no .venv; run scripts/install-deps.sh"
    failed=$((failed + 1))
  fi
elif [ "$have_bin_crate" = 1 ]; then
  skip "e2e (pytest)" "the binary did not build"
  failed=$((failed + 1))
else
  skip "e2e (pytest)" "no seawall binary crate yet"
fi

summary
[ "$failed" -eq 0 ]
