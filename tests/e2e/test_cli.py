"""The command line: help on every command, `seawall login` and `seawall token` with curl."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import jwt
import pytest

from harness import Seawall, Upstream

COMMANDS = [
    ["up"], ["server"], ["proxy"], ["user"], ["user", "add"], ["user", "list"],
    ["user", "disable"], ["user", "group"], ["user", "lockouts"], ["login"], ["token"],
    ["policy"], ["policy", "check"], ["audit-log"], ["audit-log", "verify"],
    ["audit-log", "export"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(seawall_bin: Path, command: list[str]) -> None:
    r = subprocess.run([str(seawall_bin), *command, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout
    assert len(r.stdout.splitlines()) > 3


def test_bad_usage_exits_2_with_one_line(seawall_bin: Path) -> None:
    r = subprocess.run([str(seawall_bin), "no-such-command"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    r = subprocess.run([str(seawall_bin), "audit-log", "verify", "--file", "/nonexistent/x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "/nonexistent/x" in r.stderr


def test_login_then_token_works_with_curl(gw: Seawall, upstream: Upstream, tmp_path: Path,
                                          marker: str) -> None:
    user = gw.add_user("kim", ["eng"])
    gw.enroll(user)
    home = tmp_path / "home"
    env = {**gw.env, "SEAWALL_HOME": str(home), "HOME": str(tmp_path)}
    r = subprocess.run(
        [str(gw.bin), "login", "--server", gw.server_url, "--ca", str(gw.cert), "--user",
         "kim", "--password-stdin", "--code", user.fresh_code()],
        input=user.password + "\n", capture_output=True, text=True, env=env, timeout=60,
        )
    assert r.returncode == 0, r.stdout + r.stderr
    assert user.password not in r.stdout + r.stderr
    creds = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    creds += [p for p in (tmp_path / ".config" / "seawall").rglob("*") if p.is_file()]
    assert creds, "login saved no credentials"
    for p in creds:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p

    r = subprocess.run([str(gw.bin), "token"], capture_output=True, text=True, env=env,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["groups"] == ["eng"]
    assert gw.curl(f"/app/{marker}", token=token).status == 200
    assert upstream.saw(marker)

    r = subprocess.run([str(gw.bin), "token", "--json"], capture_output=True, text=True,
                       env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["access_token"]


def test_token_without_a_login_exits_nonzero(seawall_bin: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SEAWALL_HOME": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    r = subprocess.run([str(seawall_bin), "token"], capture_output=True, text=True, env=env,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert r.stdout == ""
    assert "login" in r.stderr
