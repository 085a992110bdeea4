#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the vault's database-engine tests.
#
#   scripts/pg-test.sh start    create (first time) and start the cluster; prints its URL
#   scripts/pg-test.sh url      prints the URL of the running cluster (exit 1 if not running)
#   scripts/pg-test.sh ca       prints the path of the CA certificate of the server's TLS
#   scripts/pg-test.sh halt     stops the server but keeps its data (tests of an outage)
#   scripts/pg-test.sh resume   starts a halted server again
#   scripts/pg-test.sh stop     stops the server and deletes the cluster
#
#   export SEAWALL_TEST_PG_URL="$(scripts/pg-test.sh start)"
#   cargo test -p seawall-vault --test postgres
#
# The cluster lives in a temporary directory owned by the `postgres` OS user (initdb refuses to
# run as root), listens on 127.0.0.1 only, port $SEAWALL_PG_PORT (default 55432), and accepts
# only password logins (SCRAM): its superuser `postgres` gets a generated password, kept in the
# cluster directory (mode 0600). TLS is on (plain connections are accepted too) with a server
# certificate for 127.0.0.1 issued by a throw-away CA (`ca`). Every command is idempotent.
set -euo pipefail

port="${SEAWALL_PG_PORT:-55432}"
state="${TMPDIR:-/tmp}/seawall-pg-test-${port}.dir"

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && latest="$d"
  done
  if [ -z "${latest:-}" ]; then
    echo "pg-test: no PostgreSQL server found under /usr/lib/postgresql (set PG_BIN)" >&2
    exit 2
  fi
  echo "$latest"
}

bin="$(find_bin)"

# Runs a command as the `postgres` OS user when we are root, else as ourselves.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cluster_dir() {
  [ -f "$state" ] && cat "$state"
}

running() {
  local dir
  dir="$(cluster_dir)" || return 1
  [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

print_url() {
  local dir
  dir="$(cluster_dir)"
  printf 'postgres://postgres:%s@127.0.0.1:%s/postgres?sslmode=disable\n' \
    "$(cat "$dir/password")" "$port"
}

# A CA and a server certificate for 127.0.0.1 signed by it.
make_tls() {
  local t="$1/tls"
  mkdir -p "$t"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=seawall-pg-test-ca" -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$t/ext.cnf"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
    -days 30 -extfile "$t/ext.cnf" -out "$t/server.crt" 2>/dev/null
  rm -f "$t/ca.key" "$t/server.csr" "$t/ext.cnf"
  chmod 0600 "$t/server.key"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$t"
  fi
  chmod 0755 "$t"
  chmod 0644 "$t/ca.pem" "$t/server.crt"
}

create() {
  local dir
  dir="$(mktemp -d -t seawall-pg.XXXXXX)"
  chmod 0700 "$dir"
  # 48 hex characters: safe in a URL without escaping.
  od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$dir/password"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$dir"
  fi
  chmod 0600 "$dir/password"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  make_tls "$dir"
  cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
EOF
  cat >"$dir/data/pg_hba.conf" <<EOF
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
EOF
  echo "$dir" >"$state"
}

start_server() {
  local dir
  dir="$(cluster_dir)"
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null || {
    tail -n 20 "$dir/server.log" >&2
    exit 1
  }
}

case "${1:-}" in
  start)
    if ! running; then
      dir="$(cluster_dir || true)"
      if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
        create
      fi
      start_server
    fi
    print_url
    ;;
  url)
    if ! running; then
      echo "pg-test: no cluster is running on port $port (run: $0 start)" >&2
      exit 1
    fi
    print_url
    ;;
  ca)
    if ! running; then
      echo "pg-test: no cluster is running on port $port (run: $0 start)" >&2
      exit 1
    fi
    echo "$(cluster_dir)/tls/ca.pem"
    ;;
  halt)
    if running; then
      as_pg "$bin/pg_ctl" -D "$(cluster_dir)/data" -m immediate -w stop >/dev/null
    fi
    ;;
  resume)
    if ! running; then
      if [ -z "$(cluster_dir || true)" ]; then
        echo "pg-test: no cluster to resume (run: $0 start)" >&2
        exit 1
      fi
      start_server
    fi
    ;;
  stop)
    if dir="$(cluster_dir)"; then
      if running; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
      fi
      rm -rf "$dir"
      rm -f "$state"
    fi
    ;;
  *)
    echo "usage: $0 start|url|ca|halt|resume|stop" >&2
    exit 2
    ;;
esac
