"""`seawall scan` and `seawall advisories import` as a user runs them: exit codes, one-line
errors, and report formats checked with validators we did not write (the CycloneDX Python
library's JSON schema validator for VEX, the `sarif-pydantic` SARIF 2.1.0 model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from sarif_pydantic import Sarif

from test_scan_support import ADVISORIES, cyclonedx, import_advisories, run

PURLS = [
    "pkg:npm/lodash@4.17.11",  # GHSA-jf85-cpcp-j695: "before 4.17.12", critical
    "pkg:npm/semver@7.5.1",  # GHSA-c2qf-rxjj-qqgw: "before 7.5.2 on the 7.x branch", medium
    "pkg:npm/axios@1.6.0",  # GHSA-wf5p-g6vw-rhxx: "0.8.1 through 1.5.1": not affected
]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adv") / "adv.db"
    assert import_advisories(path, ADVISORIES).returncode == 0
    return path


@pytest.fixture()
def bom(tmp_path) -> Path:
    return cyclonedx(tmp_path / "bom.json", PURLS)


def test_table_names_each_finding(db, bom):
    proc = run("scan", str(bom), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert "GHSA-jf85-cpcp-j695" in proc.stdout
    assert "GHSA-c2qf-rxjj-qqgw" in proc.stdout
    assert "GHSA-wf5p-g6vw-rhxx" not in proc.stdout


@pytest.mark.parametrize(
    "threshold, code", [("critical", 1), ("high", 1), ("medium", 1), ("low", 1)]
)
def test_fail_on_exits_one_when_a_finding_reaches_it(db, bom, threshold, code):
    proc = run("scan", str(bom), "--db", str(db), "--fail-on", threshold)
    assert proc.returncode == code, proc.stderr


def test_fail_on_ignores_findings_below_the_threshold(db, tmp_path):
    bom = cyclonedx(tmp_path / "bom.json", ["pkg:npm/semver@7.5.1"])
    assert run("scan", str(bom), "--db", str(db), "--fail-on", "high").returncode == 0
    assert run("scan", str(bom), "--db", str(db), "--fail-on", "medium").returncode == 1


def test_expired_ignore_entry_is_reported_and_not_honoured(db, bom, tmp_path):
    ignore = tmp_path / "ignore.toml"
    ignore.write_text(
        '[[ignore]]\nid = "GHSA-jf85-cpcp-j695"\nreason = "old"\nexpires = "2020-01-01"\n'
    )
    proc = run("scan", str(bom), "--db", str(db), "--ignore", str(ignore), "--fail-on", "critical")
    assert proc.returncode == 1
    assert "expired" in proc.stderr and "GHSA-jf85-cpcp-j695" in proc.stderr


def test_vex_output_validates_against_cyclonedx_1_6(db, bom):
    proc = run("scan", str(bom), "--db", str(db), "--format", "vex")
    assert proc.returncode == 0, proc.stderr
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(proc.stdout)
    assert errors is None, str(errors)
    ids = {v["id"] for v in json.loads(proc.stdout)["vulnerabilities"]}
    assert ids == {"GHSA-jf85-cpcp-j695", "GHSA-c2qf-rxjj-qqgw"}


def test_sarif_output_loads_as_sarif_2_1_0(db, bom):
    proc = run("scan", str(bom), "--db", str(db), "--format", "sarif")
    assert proc.returncode == 0, proc.stderr
    log = Sarif.model_validate(json.loads(proc.stdout))
    assert log.version == "2.1.0"
    assert len(log.runs[0].results) == 2


def test_malformed_record_is_named_and_the_rest_imported(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.json").write_text('{"id": "X-1", "modified": ')
    good = ADVISORIES / "rustsec-osv" / "crates" / "RUSTSEC-2016-0001.json"
    (tmp_path / "in" / "good.json").write_text(good.read_text())
    proc = import_advisories(tmp_path / "adv.db", tmp_path / "in")
    assert proc.returncode == 2
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "broken.json" in errors[0], proc.stderr
    assert "1 added" in proc.stdout


def test_scan_without_index_is_a_usage_error(tmp_path, bom):
    proc = run("scan", str(bom), "--db", str(tmp_path / "none.db"))
    assert proc.returncode == 2
    assert "seawall advisories import" in proc.stderr


@pytest.mark.parametrize("target", ["proj", "proj/package-lock.json"])
def test_scan_of_a_source_tree_or_lockfile_reads_the_lockfile(db, tmp_path, target):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "package-lock.json").write_text(json.dumps({
        "name": "proj", "version": "1.0.0", "lockfileVersion": 3,
        "packages": {
            "": {"name": "proj", "version": "1.0.0", "dependencies": {"lodash": "^4.17.0"}},
            "node_modules/lodash": {"version": "4.17.11"},
        },
    }))
    proc = run("scan", str(tmp_path / target), "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    ids = {f["id"] for f in json.loads(proc.stdout)["findings"]}
    assert "GHSA-jf85-cpcp-j695" in ids
