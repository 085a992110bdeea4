"""Continuous vulnerability matching on the control plane (issue 3, server part), against the
real binary: an SBOM pushed with `seawall sbom push`, then an OSV advisory imported over the API,
yields a new finding for the component it names, and only for the affected version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import Seawall

CARGO_LOCK = """version = 4

[[package]]
name = "demo-app"
version = "0.1.0"
dependencies = ["hex", "itoa"]

[[package]]
name = "hex"
version = "0.4.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "7f24254aa9a54b5c858eaee2f5bccdb46aaf0e486a595ed5fd8f86ba55232a70"

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"
"""


def osv(ident: str, name: str, fixed: str) -> dict:
    return {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2026-11-30T00:00:00Z",
        "summary": f"test advisory for {name}",
        "affected": [{
            "package": {"ecosystem": "crates.io", "name": name},
            "ranges": [{"type": "SEMVER",
                        "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
        "database_specific": {"severity": "HIGH"},
    }


@pytest.fixture(scope="module")
def sw(seawall_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    s = Seawall(tmp_path_factory.mktemp("findings"))
    s.start()
    yield s
    s.stop()


def admin_token(sw: Seawall) -> str:
    user = sw.add_user("secadmin", ("admins",))
    return sw.sign_in(user)["access_token"]


def test_advisory_import_rematches_stored_sboms_incrementally(sw: Seawall, tmp_path: Path):
    token = admin_token(sw)
    auth = {"Authorization": f"Bearer {token}"}
    project = tmp_path / "app"
    project.mkdir()
    (project / "Cargo.lock").write_text(CARGO_LOCK)
    sbom = tmp_path / "app.cdx.json"
    r = sw.cli("sbom", str(project), "-o", str(sbom))
    assert r.returncode == 0, r.stderr

    r = sw.api("POST", "/api/v1/sboms?project=app&version=1.0", headers=auth,
               data=sbom.read_bytes())
    assert r.status_code == 200, r.text
    assert r.json()["components"] >= 2
    assert r.json()["new_findings"] == []

    # hex 0.4.3 is below the fix; itoa 1.0.11 is not below 1.0.0's fix.
    r = sw.api("POST", "/api/v1/advisories", headers=auth,
               json=[osv("TEST-HEX-1", "hex", "0.4.4"), osv("TEST-ITOA-1", "itoa", "1.0.0")])
    assert r.status_code == 200, r.text
    new = r.json()["new_findings"]
    assert [f["finding"] for f in new] == ["TEST-HEX-1 pkg:cargo/hex@0.4.3"]

    # The same advisories again change nothing and find nothing new.
    r = sw.api("POST", "/api/v1/advisories", headers=auth,
               json=[osv("TEST-HEX-1", "hex", "0.4.4")])
    assert r.json()["new_findings"] == [] and r.json()["unchanged"] == 1

    findings = sw.api("GET", "/api/v1/findings?project=app", headers=auth).json()
    assert {(f["advisory_id"], f["purl"]) for f in findings} == {
        ("TEST-HEX-1", "pkg:cargo/hex@0.4.3")}
    assert "Finding" in sw.log_text() or "finding" in sw.log_text()


def test_supply_endpoints_refuse_non_admins_and_bad_input(sw: Seawall):
    user = sw.add_user("dev1", ("eng",))
    token = sw.sign_in(user)["access_token"]
    r = sw.api("POST", "/api/v1/sboms?project=x&version=1",
               headers={"Authorization": f"Bearer {token}"}, data=b"{}")
    assert r.status_code == 403
    r = sw.api("GET", "/api/v1/findings")
    assert r.status_code == 401

    admin = {"Authorization": f"Bearer {admin_token_cached(sw)}"}
    r = sw.api("POST", "/api/v1/sboms?project=x&version=1", headers=admin, data=b"not json")
    assert r.status_code == 400 and "\n" not in r.json()["message"]
    r = sw.api("POST", "/api/v1/sboms?project=bad%20name&version=1", headers=admin, data=b"{}")
    assert r.status_code == 400 and "bad name" in r.json()["message"]
    r = sw.api("POST", "/api/v1/advisories", headers=admin, data=json.dumps({"id": 5}))
    assert r.status_code == 400
    # Nothing was stored by the refused requests.
    assert sw.api("GET", "/api/v1/findings?project=x", headers=admin).json() == []


_cached: dict[int, str] = {}


def admin_token_cached(sw: Seawall) -> str:
    if id(sw) not in _cached:
        user = sw.add_user("secadmin2", ("admins",))
        _cached[id(sw)] = sw.sign_in(user)["access_token"]
    return _cached[id(sw)]


def test_advisories_push_from_the_cli_rematches_on_the_server(sw: Seawall, tmp_path: Path):
    """`seawall advisories push` reads OSV files locally and sends them; the server re-matches."""
    user = sw.add_user("secadmin3", ("admins",))
    sw.sign_in(user)  # enrolls TOTP; the CLI signs in below with a fresh code
    auth = {"Authorization": f"Bearer {admin_token_cached(sw)}"}
    project = tmp_path / "app2"
    project.mkdir()
    (project / "Cargo.lock").write_text(CARGO_LOCK)
    sbom = tmp_path / "app2.cdx.json"
    assert sw.cli("sbom", str(project), "-o", str(sbom)).returncode == 0
    r = sw.api("POST", "/api/v1/sboms?project=app2&version=2.0", headers=auth,
               data=sbom.read_bytes())
    assert r.status_code == 200, r.text

    r = sw.cli("login", "--server", sw.server_url, "--user", user.name, "--password-stdin",
               "--code", user.fresh_code(), input=user.password + "\n")
    assert r.returncode == 0, r.stderr
    osv_dir = tmp_path / "osv"
    osv_dir.mkdir()
    (osv_dir / "TEST-ITOA-9.json").write_text(json.dumps(osv("TEST-ITOA-9", "itoa", "1.0.12")))
    (osv_dir / "broken.json").write_text("{not json")
    r = sw.cli("advisories", "push", str(osv_dir))
    assert r.returncode == 2, r.stdout + r.stderr  # the broken file is reported
    assert "broken.json" in r.stderr
    assert "TEST-ITOA-9" in r.stdout and "pkg:cargo/itoa@1.0.11" in r.stdout, r.stdout
    findings = sw.api("GET", "/api/v1/findings?project=app2", headers=auth).json()
    assert ("TEST-ITOA-9", "pkg:cargo/itoa@1.0.11") in {
        (f["advisory_id"], f["purl"]) for f in findings}
