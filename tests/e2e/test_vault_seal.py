"""Sealing the vault with Shamir key shares: `seawall operator init --key-shares 5 --key-threshold 3`,
then a server that starts sealed, refuses everything but the unseal API, and is unsealed with
`hvac` (a Vault client we did not write) and with `seawall operator unseal`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import requests

from harness import READY_LINE, START_TIMEOUT, Seawall

SEALED_LINE = "seawall: sealed; unseal with `seawall operator unseal`"


def start_sealed(sw: Seawall) -> None:
    """Starts `seawall server` and waits for the sealed announcement (not the ready line)."""
    already = len(sw.log_text())  # the log is appended to across restarts
    sw._log_file = open(sw.log_path, "ab")
    sw.proc = subprocess.Popen(sw.up_args(), stdin=subprocess.DEVNULL, stdout=sw._log_file,
                               stderr=subprocess.STDOUT, env=sw.env, cwd=sw.workdir,
                               start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if SEALED_LINE in sw.log_text()[already:]:
            return
        if sw.proc.poll() is not None:
            raise AssertionError(f"server exited with {sw.proc.returncode}:\n{sw.log_tail()}")
        time.sleep(0.1)
    sw.stop()
    raise AssertionError("server did not announce it is sealed:\n" + sw.log_tail())


def init(sw: Seawall, *args: str) -> tuple[list[str], str, subprocess.CompletedProcess[str]]:
    r = sw.cli("operator", "init", *args, check=True)
    keys = re.findall(r"^Unseal Key (\d+): (\S+)$", r.stdout, re.M)
    token = re.search(r"^Initial Root Token: (\S+)$", r.stdout, re.M)
    assert token, r.stdout
    assert [int(n) for n, _ in keys] == list(range(1, len(keys) + 1))
    return [k for _, k in keys], token.group(1), r


def client(sw: Seawall, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=sw.server_url, token=token, verify=str(sw.cert), timeout=30)


def assert_sealed_refusal(r: requests.Response) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json() == {"errors": ["Vault is sealed"]}


@pytest.fixture
def sealed(tmp_path: Path):
    sw = Seawall(tmp_path / "sealed", role="server")
    keys, token, out = init(sw, "--key-shares", "5", "--key-threshold", "3")
    yield sw, keys, token, out
    sw.stop()


def test_init_splits_the_key_and_a_restarted_server_is_sealed_until_three_shares(sealed):
    sw, keys, root_token, out = sealed
    # Five distinct base64 shares of the 32-byte key (plus the x coordinate byte).
    assert len(keys) == 5 and len(set(keys)) == 5
    assert all(len(base64.b64decode(k)) == 33 for k in keys)
    assert root_token.startswith("hvs.")
    assert "3" in out.stdout and "never be opened again" in out.stdout
    seal = json.loads((sw.data_dir / "seal.json").read_text())
    assert (seal["type"], seal["shares"], seal["threshold"]) == ("shamir", 5, 3)
    assert len(bytes.fromhex(seal["check"])) == 32
    assert not (sw.data_dir / "root.key").exists()
    # No share and no token in the seal description.
    assert not any(k in json.dumps(seal) for k in keys)

    # A second init is refused and changes nothing.
    before = (sw.data_dir / "seal.json").read_bytes()
    again = sw.cli("operator", "init", "--key-shares", "3", "--key-threshold", "2")
    assert again.returncode == 2
    assert "already initialised" in again.stderr
    assert (sw.data_dir / "seal.json").read_bytes() == before
    # Offline commands that need the root key say why they cannot work.
    user = sw.cli("user", "list")
    assert user.returncode == 2 and "sealed" in user.stderr, user.stderr

    start_sealed(sw)
    assert READY_LINE not in sw.log_text()
    vault = client(sw, root_token)

    # Everything but the unseal API is refused as sealed, with or without a token.
    assert_sealed_refusal(sw.api("GET", "/v1/secret/data/app",
                                 headers={"X-Vault-Token": root_token}))
    assert_sealed_refusal(sw.api("POST", "/v1/auth/approle/login", json={"role_id": "x"}))
    assert_sealed_refusal(sw.api("GET", "/v1/auth/token/lookup-self",
                                 headers={"X-Vault-Token": root_token}))
    assert_sealed_refusal(sw.api("GET", "/.well-known/jwks.json"))
    assert_sealed_refusal(sw.api("POST", "/api/v1/auth/password",
                                 json={"username": "a", "password": "b"}))
    with pytest.raises(hvac.exceptions.VaultDown):
        vault.secrets.kv.v2.read_secret_version(path="app", mount_point="secret",
                                                raise_on_deleted_version=True)

    health = sw.api("GET", "/v1/sys/health")
    assert health.status_code == 503
    assert health.json()["sealed"] is True and health.json()["initialized"] is True
    status = vault.sys.read_seal_status()
    assert (status["sealed"], status["t"], status["n"], status["progress"]) == (True, 3, 5, 0)
    assert status["type"] == "shamir"

    # Two good shares: progress 2, still sealed.
    vault.sys.submit_unseal_key(key=keys[3])
    status = vault.sys.submit_unseal_key(key=keys[0])
    assert (status["sealed"], status["progress"]) == (True, 2)
    assert vault.sys.is_sealed()
    cli_status = sw.cli("operator", "seal-status", "--addr", sw.server_url, data_dir=True)
    assert cli_status.returncode == 1, cli_status.stderr
    assert re.search(r"^Unseal Progress\s+2/3$", cli_status.stdout, re.M), cli_status.stdout

    # A wrong third share: refused with a clear error, progress back to 0, still sealed.
    wrong = base64.b64encode(os.urandom(32) + bytes([7])).decode()
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        vault.sys.submit_unseal_key(key=wrong)
    assert "progress was reset" in str(refused.value)
    status = vault.sys.read_seal_status()
    assert (status["sealed"], status["progress"]) == (True, 0)
    assert_sealed_refusal(sw.api("GET", "/v1/secret/data/app",
                                 headers={"X-Vault-Token": root_token}))
    # A malformed share changes nothing.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.sys.submit_unseal_key(key="not-a-share")

    # Three good shares: two with hvac, the last with `seawall operator unseal -`.
    vault.sys.submit_unseal_key(key=keys[4])
    vault.sys.submit_unseal_key(key=keys[1])
    done = sw.cli("operator", "unseal", "-", "--addr", sw.server_url, input=keys[2] + "\n")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^Sealed\s+false$", done.stdout, re.M), done.stdout
    # The API serves before the start-up summary is printed; the summary follows at once.
    assert sw.wait_until(lambda: READY_LINE in sw.log_text(), timeout=10) is not None

    # Unsealed and serving on the same listener: the control plane answers again...
    jwks = sw.api("GET", "/.well-known/jwks.json")
    assert jwks.status_code == 200 and "keys" in jwks.json()
    # ...and so does the vault, with the root token from `operator init`.
    status = vault.sys.read_seal_status()
    assert (status["sealed"], status["type"], status["t"], status["n"]) == (False, "shamir", 3, 5)
    assert vault.sys.read_health_status(method="GET")["sealed"] is False
    assert vault.auth.token.lookup_self()["data"]["policies"] == ["root"]
    vault.secrets.kv.v2.create_or_update_secret(path="app", secret={"pw": "s3cret"},
                                                mount_point="secret")
    read = vault.secrets.kv.v2.read_secret_version(path="app", mount_point="secret",
                                                   raise_on_deleted_version=True)
    assert read["data"]["data"] == {"pw": "s3cret"}

    # A restart is sealed again: the key is never written back to disk.
    sw.stop()
    assert not (sw.data_dir / "root.key").exists()
    start_sealed(sw)
    status = client(sw).sys.read_seal_status()
    assert (status["sealed"], status["progress"]) == (True, 0)
    assert_sealed_refusal(sw.api("GET", "/v1/secret/data/app",
                                 headers={"X-Vault-Token": root_token}))
    reset_to = client(sw).sys.submit_unseal_key(key=keys[0])
    assert reset_to["progress"] == 1
    reset = sw.cli("operator", "unseal", "--reset", "--addr", sw.server_url)
    assert reset.returncode == 0, reset.stderr
    assert client(sw).sys.read_seal_status()["progress"] == 0
    # Another three of the five shares open it again, with the secret written before.
    for key in (keys[2], keys[0], keys[4]):
        status = client(sw).sys.submit_unseal_key(key=key)
    assert status["sealed"] is False
    read = client(sw, root_token).secrets.kv.v2.read_secret_version(
        path="app", mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"pw": "s3cret"}


def test_init_without_shares_keeps_the_key_file_and_prints_a_root_token(tmp_path: Path):
    sw = Seawall(tmp_path / "plain", role="server")
    keys, token, out = init(sw)
    assert keys == []
    assert token.startswith("hvs.")
    assert (sw.data_dir / "root.key").exists()
    assert json.loads((sw.data_dir / "seal.json").read_text()) == {"type": "file"}
    again = sw.cli("operator", "init")
    assert again.returncode == 2 and "already initialised" in again.stderr
    try:
        sw.start()  # not sealed: the usual ready line
        assert SEALED_LINE not in sw.log_text()
        assert sw.api("GET", "/.well-known/jwks.json").status_code == 200
    finally:
        sw.stop()


@pytest.mark.parametrize("shares,threshold,message", [
    ("3", "5", "threshold 5 is larger than the number of key shares 3"),
    ("300", "3", "between 1 and 255"),
    ("5", "1", "at least 2"),
    ("0", "0", "between 1 and 255"),
])
def test_bad_share_parameters_are_refused_before_anything_is_written(
        tmp_path: Path, shares: str, threshold: str, message: str):
    sw = Seawall(tmp_path / "bad", role="server")
    r = sw.cli("operator", "init", "--key-shares", shares, "--key-threshold", threshold)
    assert r.returncode == 2
    assert message in r.stderr, r.stderr
    assert not sw.data_dir.exists()
