"""Helpers for the `seawall scan` / `seawall advisories import` end-to-end tests.

The binary is `$SEAWALL_SCAN_BIN` when set (the crate's stand-alone example,
`target/release/examples/scan`, built with `cargo build -p seawall-supply --release --example
scan`), else the suite's `seawall` binary. Both take `scan ...` and `advisories import ...`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import harness

ADVISORIES = harness.repo_root() / "crates" / "supply" / "tests" / "fixtures" / "advisories"


def scan_bin() -> Path:
    env = os.environ.get("SEAWALL_SCAN_BIN")
    return Path(env) if env else harness.seawall_bin()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(scan_bin()), *args], capture_output=True, text=True, timeout=300
    )


def import_advisories(db: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return run("advisories", "import", *map(str, paths), "--db", str(db))


def cyclonedx(path: Path, purls: list[str]) -> Path:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [{"type": "library", "name": p, "purl": p} for p in purls],
    }
    path.write_text(json.dumps(doc))
    return path


def scan_json(db: Path, sbom: Path, *args: str) -> dict:
    proc = run("scan", str(sbom), "--db", str(db), "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)
