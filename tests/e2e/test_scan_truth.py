"""`seawall scan` verdicts and scores checked against implementations we did not write:
PyPA's `packaging` (PEP 440 versions) evaluating the OSV ranges of every PyPA fixture record,
and the `cvss` package scoring every vector the matched advisories carry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cvss import CVSS3, CVSS4
from packaging.version import InvalidVersion, Version

from test_scan_support import ADVISORIES, cyclonedx, import_advisories, scan_json


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adv") / "adv.db"
    proc = import_advisories(path, ADVISORIES)
    assert proc.returncode == 0, proc.stderr
    return path


def osv_affected(version: Version, affected: dict) -> bool:
    """The OSV schema's evaluation, over `packaging` versions (ECOSYSTEM ranges only)."""
    if str(version) in affected.get("versions", []):
        return True
    for r in affected.get("ranges", []):
        if r["type"] != "ECOSYSTEM":
            continue
        try:
            events = sorted(
                r["events"],
                key=lambda e: Version("0")
                if e.get("introduced") == "0"
                else Version(next(iter(e.values()))),
            )
        except InvalidVersion:
            continue
        hit = False
        for e in events:
            if "introduced" in e:
                if e["introduced"] == "0" or version >= Version(e["introduced"]):
                    hit = True
            elif "fixed" in e and version >= Version(e["fixed"]):
                hit = False
            elif "last_affected" in e and version > Version(e["last_affected"]):
                hit = False
        if hit:
            return True
    return False


def pypa_cases() -> list[tuple[str, str, str, bool]]:
    """(record id, package, version, affected per packaging) for versions around every event."""
    cases = []
    for path in sorted((ADVISORIES / "pypa" / "vulns").rglob("*.yaml")):
        rec = yaml.safe_load(path.read_text())
        for a in rec.get("affected", []):
            name = a["package"]["name"]
            probes = set(a.get("versions", [])[:5])
            for r in a.get("ranges", []):
                if r["type"] == "ECOSYSTEM":
                    for e in r["events"]:
                        v = next(iter(e.values()))
                        if v != "0":
                            probes |= {v, v + ".post1", v + "rc1", v + ".dev0"}
            for v in sorted(probes):
                try:
                    parsed = Version(v)
                except InvalidVersion:
                    continue
                # A withdrawn record affects nothing (OSV schema, `withdrawn`).
                expected = not rec.get("withdrawn") and osv_affected(parsed, a)
                cases.append((rec["id"], name, v, expected))
    return cases


def purl_of(name: str, version: str) -> str:
    return f"pkg:pypi/{name}@{version}"


def test_pypi_verdicts_agree_with_packaging(db, tmp_path):
    cases = pypa_cases()
    assert len(cases) > 500
    purls = sorted({purl_of(name, v) for _, name, v, _ in cases})
    report = scan_json(db, cyclonedx(tmp_path / "bom.json", purls))
    flagged = set()
    for f in report["findings"]:
        for adv in f["advisories"]:
            flagged.add((adv, f["purl"]))
    wrong = []
    for rid, name, v, expected in cases:
        got = any(a == rid and p == purl_of(name, v) for a, p in flagged)
        if got != expected:
            wrong.append(f"{rid} {name} {v}: seawall {got}, packaging {expected}")
    assert not wrong, f"{len(wrong)} of {len(cases)} differ:\n" + "\n".join(wrong[:40])


def test_cvss_scores_agree_with_the_cvss_package(db, tmp_path):
    # Every RustSec fixture package at version 0.0.1 (before nearly every fix).
    import json

    purls = set()
    for path in (ADVISORIES / "rustsec-osv" / "crates").glob("*.json"):
        for a in json.loads(path.read_text()).get("affected", []):
            purls.add(f"pkg:cargo/{a['package']['name']}@0.0.1")
    report = scan_json(db, cyclonedx(tmp_path / "bom.json", sorted(purls)))
    scored = [f for f in report["findings"] if f.get("cvss")]
    assert len(scored) > 20
    for f in scored:
        vector = f["cvss"]["vector"]
        if vector.startswith("CVSS:4.0/"):
            ref = CVSS4(vector).base_score
        else:
            ref = CVSS3(vector).scores()[0]
        assert float(f["cvss"]["score"]) == float(ref), vector
