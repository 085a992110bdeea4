#!/usr/bin/env bash
# The README's first command: installs what is missing, builds Seawall, and runs
# `seawall up --demo` with a first admin, so a web service sits behind Seawall in a minute.
#
#   scripts/demo.sh                     data in ./.seawall
#   SEAWALL_DATA_DIR=/tmp/sw scripts/demo.sh
#
# On the first run it creates the user `admin` (group `admins`) with a random password and
# prints it once. Open the printed gateway URL, sign in, and enroll an authenticator app (the
# page shows a QR code): every sign-in needs the second factor. Ctrl-C stops Seawall.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/install-deps.sh --build
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
echo "demo: building seawall (release; the first build takes a few minutes)"
cargo build --release --bin seawall
bin="${CARGO_TARGET_DIR:-$repo/target}/release/seawall"

data="${SEAWALL_DATA_DIR:-$repo/.seawall}"
log="$(mktemp -t seawall-demo.XXXXXX.log)"

"$bin" up --demo --data-dir "$data" > >(tee "$log") 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 600); do
  if grep -q "seawall: ready" "$log"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: seawall up exited; see the messages above" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q "seawall: ready" "$log" || { echo "demo: seawall did not become ready" >&2; exit 1; }

# The first admin, once.
if ! "$bin" user list --data-dir "$data" 2>/dev/null | grep -qw admin; then
  password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | cut -c1-20)"
  printf '%s\n' "$password" | "$bin" user add admin --group admins --password-stdin \
    --data-dir "$data" >/dev/null
  cat <<MSG

  ┌────────────────────────────────────────────────────────────────────────┐
    Seawall demo is running.
    First admin:   admin
    Password:      $password      (shown only now)

    1. Open https://127.0.0.1:8000/ (the certificate is self-signed:
       $data/tls/cert.pem). You are sent to the sign-in page.
    2. Sign in as admin; scan the QR code with an authenticator app and
       enter its 6-digit code. Keep the recovery codes it shows.
    3. You land on the demo echo service, which shows the identity
       headers Seawall sent it.
    From a terminal: seawall login --server https://127.0.0.1:8443
    Ctrl-C stops Seawall.
  └────────────────────────────────────────────────────────────────────────┘

MSG
else
  echo "demo: the admin user exists already (data in $data); Ctrl-C stops Seawall"
fi

# The vault: an initial root token, once, and a first secret to read back.
if [ ! -e "$data/seal.json" ]; then
  root_token="$("$bin" operator init --data-dir "$data" | sed -n 's/^Initial Root Token: *//p')"
  if [ -n "$root_token" ]; then
    ca="$data/tls/ca.pem"
    curl -sf --cacert "$ca" -H "X-Vault-Token: $root_token" \
      -d '{"data":{"greeting":"hello from the vault"}}' \
      https://127.0.0.1:8443/v1/secret/data/demo >/dev/null || true
    cat <<MSG
  The vault (Vault-compatible API at https://127.0.0.1:8443/v1/):
    Root token:    $root_token      (shown only now)
    export VAULT_ADDR=https://127.0.0.1:8443 VAULT_CACERT=$ca VAULT_TOKEN=$root_token
    curl --cacert \$VAULT_CACERT -H "X-Vault-Token: \$VAULT_TOKEN" \$VAULT_ADDR/v1/secret/data/demo
    seawall exec --secret secret/demo#greeting=GREETING -- sh -c 'echo \$GREETING'

MSG
  fi
fi
wait "$pid"
