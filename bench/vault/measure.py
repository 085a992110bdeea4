"""Credential issue latency and exit-to-revocation time, for bench/vault/run.

Talks to a running `seawall server` (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT) and the PostgreSQL
cluster at PG_URL; configures a connection and a role, then
  - issues CREDS credentials one after another and reports p50/p99 of the request time;
  - runs EXITS short `seawall exec --db` processes whose child records the moment it exits, and
    reports how long after that moment the database role was gone from pg_roles.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlparse

import requests

addr = os.environ["VAULT_ADDR"]
token = os.environ["VAULT_TOKEN"]
ca = os.environ["VAULT_CACERT"]
pg = urlparse(os.environ["PG_URL"])
creds_n = int(os.environ.get("CREDS", "200"))
exits_n = int(os.environ.get("EXITS", "20"))
binary = os.environ["SEAWALL_BIN"]

s = requests.Session()
s.verify = ca
s.headers["X-Vault-Token"] = token


def call(method: str, path: str, **kw) -> requests.Response:
    # verify= explicitly: requests lets REQUESTS_CA_BUNDLE override a session's own setting.
    r = s.request(method, f"{addr}/v1/{path}", timeout=30, verify=ca, **kw)
    if r.status_code >= 400:
        sys.exit(f"bench: {method} {path} -> {r.status_code} {r.text}")
    return r


def psql(sql: str) -> str:
    env = dict(os.environ, PGPASSWORD=pg.password or "")
    return subprocess.run(
        ["psql", "-h", pg.hostname or "127.0.0.1", "-p", str(pg.port or 5432), "-U",
         pg.username or "postgres", "-d", (pg.path or "/postgres").lstrip("/"), "-tAc", sql],
        capture_output=True, text=True, env=env, check=True).stdout.strip()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


url = f"postgresql://{{{{username}}}}:{{{{password}}}}@{pg.hostname}:{pg.port}{pg.path or '/postgres'}"
call("POST", "database/config/bench", json={
    "plugin_name": "postgresql-database-plugin", "connection_url": url,
    "username": pg.username, "password": pg.password, "allowed_roles": ["bench"]})
call("POST", "database/roles/bench", json={
    "db_name": "bench", "default_ttl": "1h", "max_ttl": "24h",
    "creation_statements": [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"]})

times: list[float] = []
leases: list[str] = []
for _ in range(creds_n):
    t0 = time.perf_counter()
    r = call("GET", "database/creds/bench")
    times.append((time.perf_counter() - t0) * 1000)
    leases.append(r.json()["lease_id"])
print(f"{'db-creds':<10} {creds_n} sequential issues: p50 {pct(times, .5):.2f} ms   "
      f"p99 {pct(times, .99):.2f} ms   mean {statistics.mean(times):.2f} ms")
call("PUT", "sys/leases/revoke-prefix/database/creds/bench")

gone: list[float] = []
with tempfile.TemporaryDirectory() as d:
    for i in range(exits_n):
        mark = os.path.join(d, f"exit-{i}")
        env = dict(os.environ, VAULT_ADDR=addr, VAULT_TOKEN=token, VAULT_CACERT=ca)
        # The child writes its user name and the wall-clock time at which it exits.
        child = f'echo "$PGUSER $(date +%s.%N)" > {mark}'
        proc = subprocess.Popen([binary, "exec", "--db", "bench", "--", "sh", "-c", child], env=env)
        user = None
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with open(mark) as f:
                    text = f.read().split()
                if len(text) == 2:
                    user, exited = text[0], float(text[1])
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.001)
        if user is None:
            sys.exit("bench: the exec child never ran")
        while psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{user}'") != "0":
            if time.time() > deadline:
                sys.exit(f"bench: role {user} still there 30 s after its process exited")
        gone.append((time.time() - exited) * 1000)
        proc.wait(timeout=30)
print(f"{'exit-gone':<10} {exits_n} processes: role gone after exit p50 {pct(gone, .5):.0f} ms   "
      f"max {max(gone):.0f} ms (includes one psql poll)")
