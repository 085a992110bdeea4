"""The vault through `hvac`: KV version 2, policies, tokens, AppRole, the audit trail.

Every call goes through hvac, the Python client for HashiCorp Vault, against the real binary: if
our API drifts from Vault's paths, methods, bodies or error codes, hvac fails here.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Iterator

import hvac
import hvac.exceptions as hx
import pytest
import requests

from harness import Seawall
from vault_support import client, root_token, start_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seawall, str]]:
    sw = start_server(tmp_path_factory.mktemp("vault-hvac"))
    try:
        yield sw, root_token(sw)
    finally:
        sw.stop()


@pytest.fixture
def root(vault: tuple[Seawall, str]) -> hvac.Client:
    sw, token = vault
    return client(sw, token)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- health and mounts --------------------------------------------------------------------------


def test_health_and_seal_status_without_a_token(vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    c = client(sw)
    assert c.sys.is_initialized()
    assert not c.sys.is_sealed()
    health = c.sys.read_health_status(method="GET")
    assert health["sealed"] is False and health["initialized"] is True


def test_default_mounts_are_listed(root: hvac.Client) -> None:
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["type"] == "kv"
    assert mounts["secret/"]["options"]["version"] == "2"
    assert mounts["database/"]["type"] == "database"
    auth = root.sys.list_auth_methods()["data"]
    assert "approle/" in auth and "token/" in auth


# -- KV version 2 -------------------------------------------------------------------------------


def test_kv_versions_cas_delete_undelete_destroy(root: hvac.Client) -> None:
    kv = root.secrets.kv.v2
    path = unique("app/db")
    w1 = kv.create_or_update_secret(path=path, secret={"password": "one"})
    assert w1["data"]["version"] == 1
    kv.create_or_update_secret(path=path, secret={"password": "two"}, cas=1)
    with pytest.raises(hx.InvalidRequest):
        kv.create_or_update_secret(path=path, secret={"password": "stale"}, cas=1)
    assert kv.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"] == {
        "password": "two"
    }
    assert kv.read_secret_version(path=path, version=1, raise_on_deleted_version=True)["data"][
        "data"
    ] == {"password": "one"}

    kv.patch(path=path, secret={"user": "app"})
    latest = kv.read_secret_version(path=path, raise_on_deleted_version=True)["data"]
    assert latest["data"] == {"password": "two", "user": "app"}
    assert latest["metadata"]["version"] == 3

    kv.delete_latest_version_of_secret(path=path)
    with pytest.raises(hx.InvalidPath):
        kv.read_secret_version(path=path, raise_on_deleted_version=True)
    kv.undelete_secret_versions(path=path, versions=[3])
    assert kv.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"][
        "user"
    ] == "app"

    kv.destroy_secret_versions(path=path, versions=[1])
    meta = kv.read_secret_metadata(path=path)["data"]
    assert meta["current_version"] == 3
    assert meta["versions"]["1"]["destroyed"] is True
    with pytest.raises(hx.InvalidPath):
        kv.read_secret_version(path=path, version=1, raise_on_deleted_version=True)


def test_kv_metadata_max_versions_and_list(root: hvac.Client) -> None:
    kv = root.secrets.kv.v2
    folder = unique("team")
    for i in range(4):
        kv.create_or_update_secret(path=f"{folder}/svc", secret={"n": str(i)})
    kv.create_or_update_secret(path=f"{folder}/sub/other", secret={"x": "y"})
    kv.update_metadata(path=f"{folder}/svc", max_versions=2,
                       custom_metadata={"owner": "payments"})
    kv.create_or_update_secret(path=f"{folder}/svc", secret={"n": "4"})
    meta = kv.read_secret_metadata(path=f"{folder}/svc")["data"]
    assert meta["max_versions"] == 2
    assert sorted(meta["versions"].keys(), key=int) == ["4", "5"]
    assert meta["custom_metadata"] == {"owner": "payments"}
    keys = kv.list_secrets(path=folder)["data"]["keys"]
    assert sorted(keys) == ["sub/", "svc"]
    kv.delete_metadata_and_all_versions(path=f"{folder}/svc")
    with pytest.raises(hx.InvalidPath):
        kv.read_secret_version(path=f"{folder}/svc", raise_on_deleted_version=True)


def test_kv_bad_input_is_refused_and_nothing_changes(vault: tuple[Seawall, str]) -> None:
    sw, token = vault
    c = client(sw, token)
    path = unique("bad")
    c.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "v"})
    h = {"X-Vault-Token": token}
    # data must be an object
    r = sw.api("POST", f"/v1/secret/data/{path}", json={"data": "nope"}, headers=h)
    assert r.status_code == 400 and r.json()["errors"], r.text
    # not JSON
    r = sw.api("POST", f"/v1/secret/data/{path}", data="{", headers=h)
    assert r.status_code == 400 and "JSON" in r.json()["errors"][0], r.text
    # dot segments
    r = sw.api("GET", "/v1/secret/data/a/../b", headers=h)
    assert r.status_code in (400, 404), r.text
    meta = c.secrets.kv.v2.read_secret_metadata(path=path)["data"]
    assert meta["current_version"] == 1


# -- policies and tokens ------------------------------------------------------------------------


READ_APP = """
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
"""


def test_policy_limits_a_token_and_denials_change_nothing(root: hvac.Client,
                                                          vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    root.sys.create_or_update_policy(name="app-read", policy=READ_APP)
    assert "app-read" in root.sys.list_policies()["data"]["policies"]
    root.secrets.kv.v2.create_or_update_secret(path="app/config", secret={"k": "v1"})
    root.secrets.kv.v2.create_or_update_secret(path="other/config", secret={"k": "o"})

    t = root.auth.token.create(policies=["app-read"], ttl="1h")["auth"]["client_token"]
    app = client(sw, t)
    assert app.secrets.kv.v2.read_secret_version(path="app/config",
                                                 raise_on_deleted_version=True)["data"]["data"] == {"k": "v1"}
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.read_secret_version(path="other/config", raise_on_deleted_version=True)
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.create_or_update_secret(path="app/config", secret={"k": "evil"})
    assert root.secrets.kv.v2.read_secret_version(path="app/config",
                                                  raise_on_deleted_version=True)["data"]["data"] == {"k": "v1"}
    # A token cannot grant itself more than it has.
    with pytest.raises(hx.Forbidden):
        app.auth.token.create(policies=["root"])


def test_wrong_token_is_refused(vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    bad = client(sw, "hvs.thisisnotatokenatall0000")
    with pytest.raises(hx.Forbidden):
        bad.secrets.kv.v2.read_secret_version(path="app/config", raise_on_deleted_version=True)
    assert not bad.is_authenticated()
    none = client(sw)
    r = requests.get(sw.server_url + "/v1/secret/data/app/config", verify=str(sw.cert), timeout=10)
    assert r.status_code == 403 and r.json()["errors"], r.text
    del none


def test_token_lookup_renew_revoke_and_children(root: hvac.Client,
                                                vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    # Vault's default policy does not let a token make children; this one may.
    root.sys.create_or_update_policy(
        name="token-maker", policy='path "auth/token/create" { capabilities = ["update"] }')
    parent = root.auth.token.create(policies=["default", "token-maker"], ttl="10m",
                                    renewable=True)["auth"]
    pc = client(sw, parent["client_token"])
    me = pc.auth.token.lookup_self()["data"]
    assert me["policies"] == ["default", "token-maker"] and 0 < me["ttl"] <= 600
    renewed = pc.auth.token.renew_self(increment="20m")["auth"]
    assert 0 < renewed["lease_duration"] <= 1200
    child = pc.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    cc = client(sw, child)
    assert cc.is_authenticated()
    # Revoking the parent revokes the child.
    root.auth.token.revoke(parent["client_token"])
    assert not pc.is_authenticated()
    assert not cc.is_authenticated()


def test_revoke_self(root: hvac.Client, vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    t = root.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    c = client(sw, t)
    c.auth.token.revoke_self()
    assert not c.is_authenticated()


# -- AppRole ------------------------------------------------------------------------------------


def test_approle_login_with_use_limited_secret_id(root: hvac.Client,
                                                  vault: tuple[Seawall, str]) -> None:
    sw, _ = vault
    root.sys.create_or_update_policy(name="app-read", policy=READ_APP)
    role = unique("web")
    root.auth.approle.create_or_update_approle(
        role_name=role, token_policies=["app-read"], token_ttl="10m",
        secret_id_num_uses=1, secret_id_ttl="10m",
    )
    role_id = root.auth.approle.read_role_id(role_name=role)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role_name=role)["data"]["secret_id"]
    app = client(sw)
    auth = app.auth.approle.login(role_id=role_id, secret_id=secret_id)["auth"]
    assert "app-read" in auth["policies"]
    assert app.secrets.kv.v2.read_secret_version(path="app/config",
                                                 raise_on_deleted_version=True)["data"]["data"]
    # The secret id had one use.
    with pytest.raises((hx.InvalidRequest, hx.Forbidden)):
        client(sw).auth.approle.login(role_id=role_id, secret_id=secret_id)
    with pytest.raises((hx.InvalidRequest, hx.Forbidden)):
        client(sw).auth.approle.login(role_id=role_id, secret_id="not-the-secret")


# -- the audit trail ----------------------------------------------------------------------------


def test_every_access_is_audited_without_the_secret(vault: tuple[Seawall, str],
                                                    root: hvac.Client) -> None:
    sw, _ = vault
    value = "s3cr3t-" + uuid.uuid4().hex
    path = unique("audited")
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={"password": value})
    root.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)
    weak = root.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    with pytest.raises(hx.Forbidden):
        client(sw, weak).secrets.kv.v2.read_secret_version(path=path,
                                                           raise_on_deleted_version=True)
    deadline = time.monotonic() + 10
    records: list[dict] = []
    while time.monotonic() < deadline:
        out = sw.cli("audit-log", "export", check=True).stdout
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        hits = [r for r in records if path in json.dumps(r)]
        if any("deny" in json.dumps(r) for r in hits) and len(hits) >= 3:
            break
        time.sleep(0.3)
    text = "\n".join(json.dumps(r) for r in records)
    assert value not in text, "a secret value reached the audit log"
    assert weak not in text, "a token reached the audit log"
    mine = [r for r in records if path in json.dumps(r)]
    outcomes = {json.dumps(r) for r in mine}
    assert any('"deny"' in o for o in outcomes), mine
    assert any('"allow"' in o for o in outcomes), mine
    # The written value is there only as an HMAC.
    assert any("hmac:" in o for o in outcomes)
    assert sw.cli("audit-log", "verify").returncode == 0
