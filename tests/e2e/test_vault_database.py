"""Dynamic PostgreSQL credentials through `hvac`, checked against a real PostgreSQL with `psql`.

The cluster is the throw-away one `scripts/pg-test.sh` starts (its URL in SEAWALL_TEST_PG_URL;
scripts/test.sh starts it). Each test makes its own connection and roles, so they do not depend on
each other's order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import hvac
import hvac.exceptions as hx
import pytest

from harness import Seawall, repo_root
from vault_support import client, root_token, start_server

pytestmark = pytest.mark.timeout(180)

PG_URL = os.environ.get("SEAWALL_TEST_PG_URL", "")
if not PG_URL and os.environ.get("CI"):
    raise RuntimeError("SEAWALL_TEST_PG_URL is not set: run scripts/pg-test.sh start (scripts/test.sh does)")
needs_pg = pytest.mark.skipif(not PG_URL, reason="SEAWALL_TEST_PG_URL not set (scripts/pg-test.sh start)")
pg = urlparse(PG_URL) if PG_URL else None

CREATE = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
          "GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";"]


def psql(sql: str, user: str | None = None, password: str | None = None,
         db: str = "postgres", check: bool = True) -> subprocess.CompletedProcess[str]:
    assert pg is not None
    env = dict(os.environ, PGPASSWORD=password if user else (pg.password or ""),
               PGCONNECT_TIMEOUT="5")
    return subprocess.run(
        ["psql", "-h", pg.hostname or "127.0.0.1", "-p", str(pg.port), "-U", user or pg.username,
         "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True, text=True, env=env, check=check, timeout=30)


def role_exists(name: str) -> bool:
    return psql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'").stdout.strip() == "1"


def our_roles(prefix: str) -> set[str]:
    out = psql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%'").stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def wait_gone(name: str, timeout: float) -> float:
    start = time.monotonic()
    while role_exists(name):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"role {name} still exists after {timeout}s")
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seawall, str]]:
    if not PG_URL:
        pytest.skip("SEAWALL_TEST_PG_URL not set")
    sw = start_server(tmp_path_factory.mktemp("vault-db"))
    try:
        yield sw, root_token(sw)
    finally:
        sw.stop()


@pytest.fixture
def root(vault: tuple[Seawall, str]) -> hvac.Client:
    return client(vault[0], vault[1])


def configure(c: hvac.Client, name: str, roles: list[str] | str = "*") -> None:
    assert pg is not None
    c.secrets.database.configure(
        name=name, plugin_name="postgresql-database-plugin",
        connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@{pg.hostname}:{pg.port}/postgres",
        username=pg.username, password=pg.password, allowed_roles=roles)


def make_role(c: hvac.Client, conn: str, role: str, ttl: str = "1h", max_ttl: str = "24h",
              statements: list[str] | None = None) -> None:
    c.secrets.database.create_role(name=role, db_name=conn, creation_statements=statements or CREATE,
                                   default_ttl=ttl, max_ttl=max_ttl)


def unique(p: str) -> str:
    return f"{p}{uuid.uuid4().hex[:6]}"


@needs_pg
def test_creds_log_in_and_are_gone_after_revoke(root: hvac.Client) -> None:
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role)
    creds = root.secrets.database.generate_credentials(name=role)
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert len(user) <= 63 and user.startswith("seawall_")
    assert creds["lease_duration"] > 0 and creds["renewable"] is True
    assert psql("SELECT current_user", user, password).stdout.strip() == user
    renewed = root.sys.renew_lease(lease_id=creds["lease_id"], increment=600)
    assert 0 < renewed["lease_duration"] <= 600
    assert root.sys.read_lease(lease_id=creds["lease_id"])["data"]["id"] == creds["lease_id"]
    root.sys.revoke_lease(lease_id=creds["lease_id"])
    assert not role_exists(user)
    assert psql("SELECT 1", user, password, check=False).returncode != 0


@needs_pg
def test_creds_expire_with_their_ttl(root: hvac.Client) -> None:
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role, ttl="3s", max_ttl="10s")
    creds = root.secrets.database.generate_credentials(name=role)
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert psql("SELECT 1", user, password).stdout.strip() == "1"
    wait_gone(user, timeout=10)
    assert psql("SELECT 1", user, password, check=False).returncode != 0


@needs_pg
def test_renew_never_passes_max_ttl(root: hvac.Client) -> None:
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role, ttl="5s", max_ttl="8s")
    creds = root.secrets.database.generate_credentials(name=role)
    renewed = root.sys.renew_lease(lease_id=creds["lease_id"], increment=3600)
    assert renewed["lease_duration"] <= 8
    root.sys.revoke_lease(lease_id=creds["lease_id"])


@needs_pg
def test_role_owning_a_table_and_holding_grants_is_revoked_cleanly(root: hvac.Client) -> None:
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role, statements=CREATE + ['GRANT CREATE ON SCHEMA public TO "{{name}}";'])
    creds = root.secrets.database.generate_credentials(name=role)
    user, password = creds["data"]["username"], creds["data"]["password"]
    table = unique("t_")
    psql(f"CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1);", user, password)
    psql(f"GRANT SELECT ON {table} TO PUBLIC")
    # An open session of the role while it is revoked.
    sess = subprocess.Popen(
        ["psql", "-h", pg.hostname, "-p", str(pg.port), "-U", user, "-d", "postgres",
         "-c", "SELECT pg_sleep(30)"], env=dict(os.environ, PGPASSWORD=password),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        root.sys.revoke_lease(lease_id=creds["lease_id"])
        assert not role_exists(user)
        # The table survives, now owned by someone else.
        assert psql(f"SELECT count(*) FROM {table}").stdout.strip() == "1"
    finally:
        sess.kill()
    # Revoking twice is fine.
    root.sys.revoke_lease(lease_id=creds["lease_id"])


@needs_pg
def test_bad_input_is_refused_and_nothing_changes(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role, ttl="1h", max_ttl="2h")
    before = root.secrets.database.read_role(name=role)["data"]
    with pytest.raises(hx.InvalidRequest) as e:
        root.secrets.database.generate_credentials(name="no-such-role")
    assert "no-such-role" in str(e.value)
    with pytest.raises(hx.InvalidRequest):
        make_role(root, conn, role, statements=['CREATE ROLE "{{name}" WITH LOGIN;'])
    with pytest.raises(hx.InvalidRequest):
        make_role(root, conn, role, statements=["CREATE ROLE \"{{nmae}}\" LOGIN;"])
    with pytest.raises(hx.InvalidRequest):
        make_role(root, conn, role, statements=["CREAT ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';"])
    with pytest.raises(hx.InvalidRequest):
        make_role(root, conn, role, ttl="3h", max_ttl="2h")
    with pytest.raises((hx.InvalidRequest, hx.InvalidPath)):
        make_role(root, "no-such-connection", unique("r"))
    assert root.secrets.database.read_role(name=role)["data"] == before
    # A role with live leases is not deleted without asking for the leases to be revoked.
    creds = root.secrets.database.generate_credentials(name=role)
    with pytest.raises(hx.InvalidRequest):
        root.secrets.database.delete_role(name=role)
    assert role_exists(creds["data"]["username"])
    root.sys.revoke_lease(lease_id=creds["lease_id"])
    root.secrets.database.delete_role(name=role)


@needs_pg
def test_policy_outside_path_is_refused(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    conn, role, other = unique("c"), unique("r"), unique("r")
    configure(root, conn)
    make_role(root, conn, role)
    make_role(root, conn, other)
    root.sys.create_or_update_policy(
        name=f"only-{role}", policy=f'path "database/creds/{role}" {{ capabilities = ["read"] }}')
    t = root.auth.token.create(policies=[f"only-{role}"], ttl="10m")["auth"]["client_token"]
    app = client(sw, t)
    creds = app.secrets.database.generate_credentials(name=role)
    with pytest.raises(hx.Forbidden):
        app.secrets.database.generate_credentials(name=other)
    # Its own lease it may renew and revoke, though its policy does not name sys/leases.
    app.sys.renew_lease(lease_id=creds["lease_id"], increment=60)
    app.sys.revoke_lease(lease_id=creds["lease_id"])
    assert not role_exists(creds["data"]["username"])


@needs_pg
def test_revoking_the_token_revokes_its_credentials(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role)
    t = root.auth.token.create(policies=["root"], ttl="10m")["auth"]["client_token"]
    creds = client(sw, t).secrets.database.generate_credentials(name=role)
    root.auth.token.revoke(t)
    wait_gone(creds["data"]["username"], timeout=5)


@needs_pg
def test_static_role_rotation_keeps_clients_working(root: hvac.Client) -> None:
    conn, name = unique("c"), unique("s")
    configure(root, conn)
    app_user = unique("app_")
    psql(f"CREATE ROLE {app_user} WITH LOGIN PASSWORD 'initial-{uuid.uuid4().hex}'")
    root.secrets.database.create_static_role(name=name, db_name=conn, username=app_user,
                                             rotation_period=3600,
                                             rotation_statements=[])
    first = root.secrets.database.get_static_credentials(name=name)["data"]
    assert psql("SELECT 1", first["username"], first["password"]).stdout.strip() == "1"

    failures: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        # A client that keeps using the credential it was given, with new connections.
        while not stop.is_set():
            r = psql("SELECT 1", first["username"], first["password"], check=False)
            if r.returncode != 0:
                failures.append(r.stderr.strip())
            time.sleep(0.05)

    th = threading.Thread(target=client_loop)
    th.start()
    try:
        time.sleep(0.5)
        root.secrets.database.rotate_static_role_credentials(name=name)
        second = root.secrets.database.get_static_credentials(name=name)["data"]
        assert second["password"] != first["password"]
        assert psql("SELECT 1", second["username"], second["password"]).stdout.strip() == "1"
        time.sleep(1.5)
    finally:
        stop.set()
        th.join()
    assert failures == [], failures[:3]


@needs_pg
def test_reconciler_drops_orphans(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, token = vault
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role)
    live = root.secrets.database.generate_credentials(name=role)["data"]["username"]
    # A second connection to the same cluster: its live credential is not an orphan of the first.
    conn2, role2 = unique("c"), unique("r")
    configure(root, conn2)
    make_role(root, conn2, role2)
    live2 = root.secrets.database.generate_credentials(name=role2)["data"]["username"]
    # An orphan has the shape of a generated name; a look-alike that does not is someone
    # else's role and stays.
    orphan = f"seawall_{role}_{uuid.uuid4().hex[:8]}_{int(time.time()) + 3600}"
    psql(f"CREATE ROLE {orphan} LOGIN")
    lookalike = f"seawall_orphan_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE ROLE {lookalike} LOGIN")
    r = sw.api("POST", f"/v1/database/reconcile/{conn}", headers={"X-Vault-Token": token})
    assert r.status_code == 200, r.text
    assert orphan in r.json()["data"]["dropped"]
    assert not role_exists(orphan)
    assert role_exists(live)
    assert role_exists(live2)
    assert role_exists(lookalike)
    psql(f"DROP ROLE {lookalike}")


def pg_ctl(action: str) -> None:
    subprocess.run(["bash", str(repo_root() / "scripts" / "pg-test.sh"), action], check=True,
                   capture_output=True, timeout=60)


@needs_pg
def test_server_killed_while_issuing_loses_no_lease_and_leaves_no_orphan(
        tmp_path: Path) -> None:
    sw = start_server(tmp_path / "crash")
    token = root_token(sw)
    c = client(sw, token)
    conn, role = unique("c"), unique("crash")
    configure(c, conn)
    make_role(c, conn, role, ttl="20s", max_ttl="1m")
    acknowledged: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def issue() -> None:
        cc = client(sw, token)
        while not stop.is_set():
            try:
                r = cc.secrets.database.generate_credentials(name=role)
            except Exception:
                return
            with lock:
                acknowledged.append({"lease": r["lease_id"], "user": r["data"]["username"]})

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sw.proc is not None
    os.killpg(sw.proc.pid, signal.SIGKILL)
    sw.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert len(acknowledged) >= 20
    sw.stop()

    # A fresh log, so that start() waits for this run's ready line, not the first one's.
    sw.log_path.write_text("")
    sw.start()
    try:
        c = client(sw, token)
        for a in acknowledged:
            assert c.sys.read_lease(lease_id=a["lease"])["data"]["id"] == a["lease"]
        # Every role of ours in the database has a lease the server knows.
        known = {a["user"] for a in acknowledged}
        deadline = time.monotonic() + 10
        while True:
            present = {r for r in our_roles("seawall_") if role in r}
            unknown = present - known
            if not unknown or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not unknown, f"roles without an acknowledged lease left behind: {sorted(unknown)[:5]}"
        # After the TTL every one of them is revoked.
        deadline = time.monotonic() + 45
        while {r for r in our_roles("seawall_") if role in r} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not {r for r in our_roles("seawall_") if role in r}
    finally:
        sw.stop()


@needs_pg
def test_revocation_waits_out_a_database_outage(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, token = vault
    conn, role = unique("c"), unique("r")
    configure(root, conn)
    make_role(root, conn, role, ttl="2s", max_ttl="10s")
    creds = root.secrets.database.generate_credentials(name=role)
    user = creds["data"]["username"]
    pg_ctl("halt")
    try:
        # The lease expires while the database is down: the revocation fails and is retried.
        deadline = time.monotonic() + 30
        attempts = 0
        while time.monotonic() < deadline:
            r = sw.api("GET", "/v1/sys/seawall/leases", headers={"X-Vault-Token": token},
                       params={"prefix": creds["lease_id"]})
            leases = r.json()["data"]["leases"]
            attempts = leases[0]["attempts"] if leases else 0
            if attempts >= 2:
                assert leases[0]["last_error"]
                break
            time.sleep(0.5)
        assert attempts >= 2, "the failed revocation was not retried"
    finally:
        pg_ctl("resume")
    wait_gone(user, timeout=70)
    r = sw.api("GET", "/v1/sys/seawall/leases", headers={"X-Vault-Token": token},
               params={"prefix": creds["lease_id"]})
    assert r.json()["data"]["leases"] == []
