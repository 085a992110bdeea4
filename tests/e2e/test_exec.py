"""`seawall exec` and `seawall leases` against a real server and a real PostgreSQL.

The server is `seawall server` with the vault (its root token from `seawall operator init`); the
connection and roles are configured through the Vault API with `hvac`, which we did not write,
and every check on the database side asks PostgreSQL itself (`pg_roles`, `psql` logins). The
cluster is the throw-away one `scripts/pg-test.sh start` prints the URL of
(SEAWALL_TEST_PG_URL); without it these tests are skipped.

What they show: the command gets a working credential (environment or 0600 file) and never the
parent's vault token; the role is gone from `pg_roles` within one second of the command ending,
whether it exits, crashes with SIGSEGV, or is killed by a SIGTERM sent to `seawall exec` and
forwarded; exit codes are passed on; with `seawall exec` itself killed by SIGKILL, the role is
gone within the `--ttl` the lease was kept at, after having lived past that TTL by renewal.
"""

from __future__ import annotations

import json
import re
import os
import pty
import select
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest

from harness import Seawall

hvac = pytest.importorskip("hvac")
vault_support = pytest.importorskip("vault_support")

pytestmark = pytest.mark.timeout(180)

PG_URL = os.environ.get("SEAWALL_TEST_PG_URL", "")
needs_pg = pytest.mark.skipif(not PG_URL, reason="SEAWALL_TEST_PG_URL not set (scripts/pg-test.sh start)")
pg = urlparse(PG_URL) if PG_URL else None

CREATE = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
          "GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";"]

# A command that proves the credential works: the database says who we are.
WHOAMI = "psql -XtAc 'select current_user'"


def unique(p: str) -> str:
    return f"{p}{uuid.uuid4().hex[:6]}"


def psql_admin(sql: str) -> str:
    assert pg is not None
    env = dict(os.environ, PGPASSWORD=pg.password or "", PGCONNECT_TIMEOUT="5")
    for k in ("PGUSER", "PGHOST", "PGPORT", "PGDATABASE", "DATABASE_URL"):
        env.pop(k, None)
    r = subprocess.run(["psql", "-X", "-h", pg.hostname or "127.0.0.1", "-p", str(pg.port),
                        "-U", pg.username or "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                        "-tAc", sql], capture_output=True, text=True, env=env, timeout=30, check=True)
    return r.stdout.strip()


def role_exists(name: str) -> bool:
    assert "'" not in name
    return psql_admin(f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'") == "1"


def seconds_until_gone(name: str, timeout: float) -> float:
    """Polls pg_roles until `name` is gone; returns how long that took (fails after timeout)."""
    start = time.monotonic()
    while role_exists(name):
        if time.monotonic() - start > timeout:
            raise AssertionError(f"role {name} still in pg_roles after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


class Vault:
    """The server, its root token, and one connection with one role for these tests."""

    def __init__(self, sw: Seawall, token: str) -> None:
        self.sw = sw
        self.token = token
        self.root = vault_support.client(sw, token)
        self.conn = unique("exec_c")
        self.role = unique("exec_r")
        assert pg is not None
        self.root.secrets.database.configure(
            name=self.conn, plugin_name="postgresql-database-plugin",
            connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@{pg.hostname}:{pg.port}/postgres",
            username=pg.username, password=pg.password, allowed_roles="*")
        self.root.secrets.database.create_role(
            name=self.role, db_name=self.conn, creation_statements=CREATE,
            default_ttl="1h", max_ttl="24h")

    def env(self, token: str | None = None) -> dict[str, str]:
        env = dict(self.sw.env, VAULT_ADDR=self.sw.server_url, VAULT_TOKEN=token or self.token)
        # The CA comes from the data directory by default (`--data-dir`), as documented.
        for k in ("VAULT_CACERT", "PGUSER", "PGPASSWORD", "PGHOST", "PGPORT", "PGDATABASE",
                  "DATABASE_URL", "SEAWALL_DB_FILE"):
            env.pop(k, None)
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(self.sw.bin), "exec", "--data-dir", str(self.sw.data_dir),
                "--config", str(self.sw.config_path), *args]

    def run(self, *args: str, token: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=self.env(token), timeout=timeout, cwd=self.sw.workdir)

    def start(self, *args: str, out: Path) -> subprocess.Popen[bytes]:
        """`seawall exec ARGS` in the background, in its own session (so the test can clean
        up its whole process group), output to `out`."""
        f = open(out, "wb")
        try:
            return subprocess.Popen(self.argv(*args), stdout=f, stderr=subprocess.STDOUT,
                                    env=self.env(), cwd=self.sw.workdir, start_new_session=True)
        finally:
            f.close()

    def leases(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.sw.bin), "leases", *args, "--data-dir",
                               str(self.sw.data_dir), "--config", str(self.sw.config_path)],
                              capture_output=True, text=True, env=self.env(), timeout=60,
                              cwd=self.sw.workdir)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    if not PG_URL:
        pytest.skip("SEAWALL_TEST_PG_URL not set")
    sw = vault_support.start_server(tmp_path_factory.mktemp("exec"))
    try:
        yield Vault(sw, vault_support.root_token(sw))
    finally:
        sw.stop()


def wait_for_text(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"nothing in {path} after {timeout}s")


def killpg_quietly(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@needs_pg
def test_the_command_logs_in_without_the_token_and_the_role_goes_when_it_exits(vault: Vault) -> None:
    script = (f"{WHOAMI}; echo \"token=${{VAULT_TOKEN-unset}}\"; "
              "echo \"url=${DATABASE_URL%%://*}\"; echo \"host=$PGHOST port=$PGPORT\"")
    r = vault.run("--db", vault.role, "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    # Nothing of seawall's own on success.
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    user = lines[0]
    assert user.startswith("seawall_"), r.stdout
    assert "token=unset" in lines
    assert vault.token not in r.stdout
    assert "url=postgresql" in lines
    assert f"host={pg.hostname} port={pg.port}" in lines
    took = seconds_until_gone(user, 1.0)
    print(f"role gone {took:.3f}s after `seawall exec` returned (normal exit)")


@needs_pg
def test_exit_codes_are_passed_on(vault: Vault) -> None:
    for code in (0, 1, 7, 255):
        r = vault.run("--db", vault.role, "--", "sh", "-c", f"exit {code}")
        assert r.returncode == code, r.stderr
    r = vault.run("--db", vault.role, "--", "/nonexistent/command")
    assert r.returncode == 127
    assert "cannot run `/nonexistent/command`" in r.stderr


@needs_pg
def test_a_crashing_command_loses_its_role_at_once(vault: Vault) -> None:
    r = vault.run("--db", vault.role, "--", "sh", "-c", f"{WHOAMI}; kill -SEGV $$")
    assert r.returncode == 128 + signal.SIGSEGV, r.stderr
    user = r.stdout.strip()
    assert user.startswith("seawall_")
    took = seconds_until_gone(user, 1.0)
    print(f"role gone {took:.3f}s after the command crashed with SIGSEGV")


@needs_pg
def test_sigterm_to_seawall_exec_is_forwarded_and_the_role_goes(vault: Vault, tmp_path: Path) -> None:
    who = tmp_path / "who"
    proc = vault.start("--db", vault.role, "--", "sh", "-c", f"{WHOAMI} > {who}; exec sleep 60",
                       out=tmp_path / "out")
    try:
        user = wait_for_text(who).strip()
        assert role_exists(user)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM, (tmp_path / "out").read_text()
        seconds_until_gone(user, 1.0)
        print(f"role gone {time.monotonic() - sent:.3f}s after SIGTERM to `seawall exec`")
    finally:
        killpg_quietly(proc)


@needs_pg
def test_a_forwarded_signal_the_command_handles_sets_the_exit_code(vault: Vault, tmp_path: Path) -> None:
    who = tmp_path / "who"
    script = f"trap 'exit 3' INT; {WHOAMI} > {who}; sleep 60 & wait"
    proc = vault.start("--db", vault.role, "--", "sh", "-c", script, out=tmp_path / "out")
    try:
        user = wait_for_text(who).strip()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 3, (tmp_path / "out").read_text()
        seconds_until_gone(user, 1.0)
    finally:
        killpg_quietly(proc)


@needs_pg
def test_ctrl_c_on_the_terminal_reaches_the_command(vault: Vault, tmp_path: Path) -> None:
    # On a real terminal (a pty), Ctrl-C makes the kernel signal the whole foreground process
    # group: the command, in that group, gets it from the terminal, not through us.
    who, log = tmp_path / "who", tmp_path / "log"
    script = f"trap 'echo int >> {log}; exit 5' INT; {WHOAMI} > {who}; sleep 60 & wait"
    argv = vault.argv("--db", vault.role, "--", "sh", "-c", script)
    env = vault.env()
    pid, fd = pty.fork()
    if pid == 0:  # the child: seawall exec, session leader on the pty
        os.execve(argv[0], argv, env)
    try:
        user = wait_for_text(who).strip()
        os.write(fd, b"\x03")
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            # Keep the terminal drained.
            if select.select([fd], [], [], 0.02)[0]:
                try:
                    os.read(fd, 4096)
                except OSError:
                    pass
        assert status is not None and os.waitstatus_to_exitcode(status) == 5, status
        assert log.read_text() == "int\n"
        seconds_until_gone(user, 1.0)
    finally:
        try:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


@needs_pg
def test_sigkill_of_seawall_exec_leaves_the_role_only_for_the_ttl(vault: Vault, tmp_path: Path) -> None:
    # The command uses its credential every half second for 8 s, past the 5 s TTL: renewal
    # keeps the lease alive. Then `seawall exec` dies without a chance to revoke.
    log = tmp_path / "log"
    script = (f"i=0; while [ $i -lt 16 ]; do psql -XtAc 'select 1' >> {log} 2>&1 || echo FAIL >> {log}; "
              f"sleep 0.5; i=$((i+1)); done; {WHOAMI} > {tmp_path / 'who'}; exec sleep 60")
    proc = vault.start("--db", vault.role, "--ttl", "5s", "--", "sh", "-c", script,
                       out=tmp_path / "out")
    try:
        user = wait_for_text(tmp_path / "who", timeout=40).strip()
        uses = log.read_text().split()
        assert uses == ["1"] * 16, uses
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=10)
        # The last renewal was at most a third of the TTL before the kill; the server's expiry
        # loop runs every second.
        seconds_until_gone(user, 5.0 + 1.5)
        print(f"role gone {time.monotonic() - killed:.3f}s after SIGKILL (--ttl 5s)")
    finally:
        killpg_quietly(proc)


@needs_pg
def test_db_file_is_private_and_removed(vault: Vault, tmp_path: Path) -> None:
    path = tmp_path / "cred.json"
    script = ("stat -c %a \"$SEAWALL_DB_FILE\"; echo \"pw=${PGPASSWORD-unset}\"; "
              "psql -XtAc 'select current_user' "
              "\"$(sed -n 's/.*\"database_url\":\"\\([^\"]*\\)\".*/\\1/p' \"$SEAWALL_DB_FILE\")\"; "
              "cat \"$SEAWALL_DB_FILE\"")
    r = vault.run("--db", vault.role, "--db-file", str(path), "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    mode, pw, user, body = r.stdout.split("\n", 3)
    assert mode == "600"
    assert pw == "pw=unset"
    cred = json.loads(body)
    assert cred["username"] == user and user.startswith("seawall_")
    assert cred["password"] and cred["lease_id"].startswith("database/creds/")
    assert not path.exists()
    seconds_until_gone(user, 1.0)
    # An existing file is never written into.
    path.write_text("someone else's")
    r = vault.run("--db", vault.role, "--db-file", str(path), "--", "true")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert path.read_text() == "someone else's"


@needs_pg
def test_kv_secrets_become_variables(vault: Vault) -> None:
    name = unique("exec/app")
    vault.root.secrets.kv.v2.create_or_update_secret(
        path=name, secret={"password": "s3cr3t value", "port": 5432}, mount_point="secret")
    r = vault.run("--secret", f"secret/{name}#password=APP_PW", "--secret",
                  f"secret/{name}#port=APP_PORT", "--", "sh", "-c",
                  "printf '%s|%s|%s' \"$APP_PW\" \"$APP_PORT\" \"${VAULT_TOKEN-unset}\"")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "s3cr3t value|5432|unset"
    # With a database credential at once.
    r = vault.run("--db", vault.role, "--secret", f"secret/{name}#password=APP_PW", "--",
                  "sh", "-c", f"{WHOAMI}; printf '%s' \"$APP_PW\"")
    assert r.returncode == 0, r.stderr
    user, pw = r.stdout.split("\n", 1)
    assert pw == "s3cr3t value"
    seconds_until_gone(user, 1.0)
    # A field that is not there: one line, naming it, and the command does not run.
    r = vault.run("--secret", f"secret/{name}#nope=X", "--", "sh", "-c", "echo ran")
    assert r.returncode == 2 and "ran" not in r.stdout
    assert r.stderr.count("\n") == 1 and "no field `nope`" in r.stderr


@needs_pg
def test_a_narrow_policy_is_enough(vault: Vault) -> None:
    # The token may only read creds of this role; renewing and revoking its own lease is
    # allowed by the vault without a sys/leases rule.
    policy = unique("exec_p")
    vault.root.sys.create_or_update_policy(
        name=policy, policy=f'path "database/creds/{vault.role}" {{ capabilities = ["read"] }}')
    token = vault.root.auth.token.create(policies=[policy], ttl="10m")["auth"]["client_token"]
    r = vault.run("--db", vault.role, "--ttl", "5s", "--", "sh", "-c", f"{WHOAMI}; sleep 2.5",
                  token=token)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    seconds_until_gone(r.stdout.strip(), 1.0)


def test_bad_input_is_refused_in_one_line(vault: Vault) -> None:
    cases = [
        (["--db", "a b", "--", "true"], "--db `a b`"),
        (["--db", vault.role, "--ttl", "soon", "--", "true"], "`soon` is not a duration"),
        (["--db", vault.role, "--ttl", "1s", "--", "true"], "too short"),
        (["--db", vault.role], "no command"),
        (["--secret", "secret/x=Y", "--", "true"], "no `#FIELD`"),
        (["--", "true"], "nothing to hand"),
    ]
    for args, why in cases:
        r = vault.run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and why in r.stderr, (args, r.stderr)
    # The server's refusals, naming the path.
    r = vault.run("--db", "no-such-role", "--", "echo", "ran")
    assert r.returncode == 2 and "ran" not in r.stdout
    assert r.stderr.count("\n") == 1 and "/v1/database/creds/no-such-role" in r.stderr, r.stderr
    wrong = "hvs." + uuid.uuid4().hex
    r = vault.run("--db", vault.role, "--", "echo", "ran", token=wrong)
    assert r.returncode == 2 and "ran" not in r.stdout
    assert r.stderr.count("\n") == 1 and "403" in r.stderr, r.stderr
    assert wrong not in r.stderr


@needs_pg
def test_leases_list_renew_revoke_and_reconcile(vault: Vault, tmp_path: Path) -> None:
    who = tmp_path / "who"
    proc = vault.start("--db", vault.role, "--", "sh", "-c", f"{WHOAMI} > {who}; exec sleep 60",
                       out=tmp_path / "out")
    try:
        user = wait_for_text(who).strip()
        prefix = f"database/creds/{vault.role}"
        r = vault.leases("list", "--prefix", prefix, "--json")
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        assert len(listed) == 1 and listed[0]["id"].startswith(prefix + "/")
        assert 0 < listed[0]["ttl"] <= 60
        lease_id = listed[0]["id"]
        r = vault.leases("list", "--prefix", prefix)
        assert r.returncode == 0 and lease_id in r.stdout
        # From the root, walking every folder.
        r = vault.leases("list")
        assert r.returncode == 0 and lease_id in r.stdout, r.stdout + r.stderr
        r = vault.leases("renew", lease_id, "--increment", "30s")
        assert r.returncode == 0 and "ends in 30s" in r.stdout, r.stdout + r.stderr
        r = vault.leases("list", "--failing", "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
        r = vault.leases("revoke", lease_id)
        assert r.returncode == 0, r.stderr
        seconds_until_gone(user, 1.0)
        r = vault.leases("list", "--prefix", prefix, "--json")
        assert json.loads(r.stdout) == []
    finally:
        killpg_quietly(proc)
    # Revoke by prefix: two leases of the role, both gone.
    users = []
    for _ in range(2):
        creds = vault.root.secrets.database.generate_credentials(name=vault.role)
        users.append(creds["data"]["username"])
    r = vault.leases("revoke", "--prefix", prefix)
    assert r.returncode == 0, r.stderr
    for u in users:
        assert not role_exists(u)
    # An orphan with our prefix (no lease) is dropped by reconcile; the report names it.
    # (The reconciler drops only names of the shape Seawall generates.)
    role_part = re.sub(r"[^a-z0-9]", "_", vault.role.lower())
    orphan = f"seawall_{role_part}_{uuid.uuid4().hex[:8]}_{int(time.time()) + 3600}"
    psql_admin(f"CREATE ROLE {orphan} LOGIN")
    r = vault.leases("reconcile", vault.conn)
    assert r.returncode == 0, r.stderr
    assert orphan in r.stdout, r.stdout
    assert not role_exists(orphan)
    r = vault.leases("reconcile", "no-such-connection")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "reconcile/no-such-connection" in r.stderr
