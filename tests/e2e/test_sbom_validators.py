"""Every SBOM we write, for every lockfile fixture, passes the official validators:
the CycloneDX Python library's JSON schema validator (1.6 and 1.5) and the SPDX Python tools
(`pyspdxtools -i`), neither of which we wrote."""

from __future__ import annotations

import subprocess

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from test_sbom_support import fixture_dirs, run_sbom

SPECS = {"1.6": SchemaVersion.V1_6, "1.5": SchemaVersion.V1_5}


@pytest.mark.parametrize("folder", fixture_dirs(), ids=lambda d: d.name)
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_cyclonedx_output_validates(folder, spec):
    proc = run_sbom(str(folder), "--spec-version", spec)
    assert proc.returncode in (0, 2), proc.stderr
    errors = JsonStrictValidator(SPECS[spec]).validate_str(proc.stdout)
    assert errors is None, str(errors)


@pytest.mark.parametrize("folder", fixture_dirs(), ids=lambda d: d.name)
def test_spdx_output_validates(folder, tmp_path):
    out = tmp_path / "bom.spdx.json"
    proc = run_sbom(str(folder), "--format", "spdx", "-o", str(out))
    assert proc.returncode in (0, 2), proc.stderr
    check = subprocess.run(
        ["pyspdxtools", "-i", str(out)], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "invalid" not in (check.stdout + check.stderr).lower()
