"""Helpers for the `seawall sbom` end-to-end tests.

The binary is `$SEAWALL_SBOM_BIN` when set (the crate's stand-alone example,
`target/release/examples/sbom`, built with `cargo build -p seawall-supply --release --example
sbom`), else the `seawall` binary of the suite (`$SEAWALL_BIN`, else target/release/seawall). Both
are called as `BIN sbom PATH [OPTIONS]`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import harness

FIXTURES = harness.repo_root() / "crates" / "supply" / "tests" / "fixtures" / "lockfiles"


def sbom_bin() -> Path:
    env = os.environ.get("SEAWALL_SBOM_BIN")
    return Path(env) if env else harness.seawall_bin()


def run_sbom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    full_env.update(env or {})
    return subprocess.run(
        [str(sbom_bin()), "sbom", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


def sbom_json(path: Path, *args: str) -> dict:
    proc = run_sbom(str(path), *args)
    assert proc.returncode in (0, 2), proc.stderr
    return json.loads(proc.stdout)


def fixture_dirs() -> list[Path]:
    """Every fixture folder that holds a lockfile (real projects and synthetic cases)."""
    dirs = [d for d in sorted(FIXTURES.iterdir()) if d.is_dir() and d.name != "synthetic"]
    dirs += [d for d in sorted((FIXTURES / "synthetic").iterdir()) if d.is_dir()]
    return dirs
