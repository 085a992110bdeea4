"""`seawall sbom` checked against independent readings of the same lockfiles.

The expected (name, version) sets come from Python's own parsers (tomllib, json, PyYAML), and
every purl we write is parsed back by packageurl-python, an implementation we did not write.
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml
from packageurl import PackageURL

from test_sbom_support import FIXTURES, fixture_dirs, run_sbom, sbom_json


def pairs(doc: dict, purl_type: str) -> set[tuple[str, str]]:
    out = set()
    for c in doc["components"]:
        p = PackageURL.from_string(c["purl"])
        if p.type == purl_type and p.version:
            name = f"{p.namespace}/{p.name}" if p.namespace else p.name
            out.add((name, p.version))
    return out


def pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_ripgrep_cargo_lock_matches_tomllib():
    lock = tomllib.loads((FIXTURES / "ripgrep" / "Cargo.lock").read_text())
    want = {(p["name"], p["version"]) for p in lock["package"]}
    got = pairs(sbom_json(FIXTURES / "ripgrep"), "cargo")
    assert got == want


def test_poetry_lock_matches_tomllib_with_pep503_names():
    lock = tomllib.loads((FIXTURES / "poetry" / "poetry.lock").read_text())
    want = {(pep503(p["name"]), p["version"]) for p in lock["package"]}
    got = pairs(sbom_json(FIXTURES / "poetry"), "pypi")
    assert got == want


def test_koel_composer_lock_matches_json():
    lock = json.loads((FIXTURES / "koel" / "composer.lock").read_text())
    want = {(p["name"].lower(), p["version"]) for p in lock["packages"] + lock["packages-dev"]}
    got = pairs(sbom_json(FIXTURES / "koel"), "composer")
    assert got == want


def test_vue_pnpm_lock_matches_pyyaml_package_keys():
    lock = yaml.safe_load((FIXTURES / "vuejs-core" / "pnpm-lock.yaml").read_text())
    want = set()
    for key in lock["packages"]:
        name, _, version = key.rpartition("@")
        want.add((name, version.split("(")[0]))
    got = pairs(sbom_json(FIXTURES / "vuejs-core"), "npm")
    assert got == want


def test_cosign_go_mod_requires_are_all_present():
    want = set()
    block = False
    for line in (FIXTURES / "cosign" / "go.mod").read_text().splitlines():
        code = line.split("//")[0].strip()
        if code.startswith("require ("):
            block = True
        elif code == ")":
            block = False
        elif block and code:
            path, version = code.split()[:2]
            want.add((path, version))
    got = pairs(sbom_json(FIXTURES / "cosign"), "golang")
    assert want and want <= got


@pytest.mark.parametrize("folder", fixture_dirs(), ids=lambda d: d.name)
def test_every_purl_round_trips_through_packageurl_python(folder):
    doc = sbom_json(folder)
    for c in doc["components"]:
        parsed = PackageURL.from_string(c["purl"])
        assert parsed.to_string() == c["purl"]
        assert c["bom-ref"] == c["purl"]


def test_same_input_gives_the_same_bytes_and_epoch_sets_the_timestamp():
    folder = FIXTURES / "excalidraw"
    first = run_sbom(str(folder))
    second = run_sbom(str(folder))
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "timestamp" not in json.loads(first.stdout)["metadata"]

    dated = run_sbom(str(folder), env={"SOURCE_DATE_EPOCH": "1700000000"})
    doc = json.loads(dated.stdout)
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert doc["serialNumber"] != json.loads(first.stdout)["serialNumber"]
    spdx = run_sbom(str(folder), "--format", "spdx", env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert json.loads(spdx.stdout)["creationInfo"]["created"] == "2023-11-14T22:13:20Z"


def test_unreadable_lockfile_exits_2_with_a_one_line_error_and_the_rest_is_written(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "Cargo.lock").write_bytes(
        (FIXTURES / "synthetic" / "broken-cargo" / "Cargo.lock").read_bytes()
    )
    (tmp_path / "b" / "yarn.lock").write_bytes(
        (FIXTURES / "synthetic" / "yarn-alias" / "yarn.lock").read_bytes()
    )
    proc = run_sbom(str(tmp_path))
    assert proc.returncode == 2
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: a/Cargo.lock:5: skipped: invalid TOML")
    doc = json.loads(proc.stdout)
    assert [c["purl"] for c in doc["components"]] == ["pkg:npm/%40scope/real-name@0.8.3"]


def test_missing_path_exits_2(tmp_path):
    proc = run_sbom(str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot read")
    assert proc.stdout == ""


def test_output_file_name_and_version_flags(tmp_path):
    out = tmp_path / "bom.json"
    proc = run_sbom(
        str(FIXTURES / "ripgrep"), "-o", str(out), "--name", "rg", "--version", "14.1.1",
        "--spec-version", "1.5",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["specVersion"] == "1.5"
    root = doc["metadata"]["component"]
    assert (root["name"], root["version"]) == ("rg", "14.1.1")
    # The root depends on the workspace's own crate, which depends on its `grep` member.
    lock = tomllib.loads((FIXTURES / "ripgrep" / "Cargo.lock").read_text())
    version = {p["name"]: p["version"] for p in lock["package"]}
    rg = f"pkg:cargo/ripgrep@{version['ripgrep']}"
    refs = {d["ref"]: d["dependsOn"] for d in doc["dependencies"]}
    assert rg in refs[root["bom-ref"]]
    assert f"pkg:cargo/grep@{version['grep']}" in refs[rg]


def test_cargo_auditable_binary_matches_the_lockfile_it_was_built_from():
    folder = FIXTURES.parent / "binaries" / "audhello"
    lock = tomllib.loads((folder / "Cargo.lock").read_text())
    want = {(p["name"], p["version"]) for p in lock["package"]}
    got = pairs(sbom_json(folder / "audhello"), "cargo")
    assert got == want
