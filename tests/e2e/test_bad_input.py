"""Bad input: malformed cookies, oversize headers, broken policy files, broken key files."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import POLICIES
from harness import Seawall, Upstream


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_content(data_dir: Path) -> list[str]:
    """The store's rows as SQL text. Not the file's bytes: opening a WAL database may fold the
    write-ahead log into the main file without changing a row."""
    import shutil
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for f in data_dir.glob("seawall.db*"):
            shutil.copy2(f, tmp)
        db = sqlite3.connect(Path(tmp) / "seawall.db")
        rows = list(db.iterdump())
        db.close()
    return rows


def test_malformed_cookies_get_401_not_an_error(gw: Seawall, upstream: Upstream,
                                                marker: str) -> None:
    cookies = [
        "seawall_session=",
        "seawall_session=%%%",
        "seawall_session=\"unterminated",
        "seawall_session=" + "A" * 4000,
        "seawall_session=a.b.c",
        "seawall_session=a; seawall_session=b",
        "=;;;=;",
        ";",
        "seawall_session",
        "seawall_session=\u00e9\u00e9",
    ]
    for c in cookies:
        r = gw.curl(f"/app/{marker}", headers={"Cookie": c, "Accept": "application/json"})
        assert r.status == 401, (c[:40], r.status, r.body)
    # Raw bytes that are not UTF-8 (obs-text, legal in HTTP/1.1 header values).
    out = subprocess.run(
        [b"curl", b"-sS", b"--http1.1", b"-o", b"/dev/null", b"-w", b"%{http_code}", b"--cacert",
         bytes(gw.cert), b"-H", b"Accept: application/json", b"-H",
         b"Cookie: seawall_session=\xff\xfe\xe9x", f"{gw.gateway_url}/app/{marker}".encode()],
        capture_output=True, timeout=20)
    assert out.stdout in (b"400", b"401"), out
    assert not upstream.saw(marker)
    assert gw.alive()


def test_oversize_headers_get_431(gw: Seawall, upstream: Upstream, alice_token: str,
                                  marker: str) -> None:
    r = gw.curl(f"/app/{marker}-one", token=alice_token, headers={"X-Big": "a" * 20_000})
    assert r.status == 431, r.status
    many = {f"X-Many-{i}": "b" * 200 for i in range(100)}
    r = gw.curl(f"/app/{marker}-many", token=alice_token, headers=many)
    assert r.status == 431, r.status
    assert not upstream.saw(marker)
    # The gateway goes on serving.
    assert gw.curl(f"/app/{marker}-after", token=alice_token).status == 200


def test_a_policy_file_with_a_syntax_error_is_refused_and_the_last_good_policies_stay(
        gw: Seawall, upstream: Upstream, alice_token: str, bob_token: str, marker: str) -> None:
    policy = gw.policy_dir / "gateway.cedar"
    good = policy.read_text()
    # If this file were loaded in part, bob would get in: the first statement lets everyone in.
    broken = ('permit (principal, action, resource == Route::"app");\n'
              + good + '\npermit (principal, action, resource) when { context.country == };\n')
    try:
        policy.write_text(broken)
        time.sleep(1.5)  # several reload intervals (200 ms)
        assert gw.alive()
        assert gw.curl(f"/app/{marker}-bob", token=bob_token).status == 403
        assert gw.curl(f"/app/{marker}-alice", token=alice_token).status == 200
        assert not upstream.saw(f"{marker}-bob")

        r = gw.cli("policy", "check", str(gw.policy_dir), data_dir=False)
        assert r.returncode == 1, r.stdout + r.stderr
        out = r.stdout + r.stderr
        line = len(broken.splitlines())
        assert re.search(rf"{re.escape(str(policy))}:{line}:\d+: error", out), out
    finally:
        policy.write_text(good)
    r = gw.cli("policy", "check", str(gw.policy_dir), data_dir=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_policy_that_does_not_match_the_schema_is_refused(gw: Seawall, tmp_path: Path) -> None:
    bad = tmp_path / "typo.cedar"
    bad.write_text('permit (principal, action, resource)\nwhen { context.contry == "NL" };\n')
    r = gw.cli("policy", "check", str(bad), data_dir=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(rf"{re.escape(str(bad))}:2:\d+: error", r.stdout + r.stderr), r.stdout


def test_policy_check_passes_the_suites_policies(tmp_path: Path, seawall_bin: Path) -> None:
    for name, text in POLICIES.items():
        (tmp_path / name).write_text(text)
    r = subprocess.run([str(seawall_bin), "policy", "check", str(tmp_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_config_file_with_an_unknown_key_names_file_line_and_key(
        seawall_bin: Path, tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text("[gateway]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
    r = subprocess.run([str(seawall_bin), "up", "--data-dir", str(tmp_path / "d"), "--config",
                        str(conf)], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stdout + r.stderr
    # The file (possibly quoted in backticks), then line 3, then the key.
    assert re.search(rf"{re.escape(str(conf))}`?:3:", r.stderr), r.stderr
    assert "lisen" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "d" / "root.key").exists()


@pytest.fixture
def stopped(seawall_bin: Path, tmp_path: Path) -> Seawall:
    """A data directory that `seawall up` initialised once, then stopped."""
    sw = Seawall(tmp_path)
    sw.start()
    sw.add_user("keyfile-user", [])
    sw.stop()
    assert (sw.data_dir / "root.key").exists()
    assert (sw.data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    return sw


def start_fails_cleanly(sw: Seawall) -> str:
    r = subprocess.run(sw.up_args(), capture_output=True, text=True, env=sw.env, timeout=60,
                       stdin=subprocess.DEVNULL, cwd=sw.workdir)
    out = r.stdout + r.stderr
    assert r.returncode == 2, f"exit {r.returncode}: {out}"
    assert "panicked" not in out, out
    assert "seawall: ready" not in out
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines, "no error message"
    error = lines[-1]
    # One clear line: no cause repeated inside it.
    parts = [p.strip() for p in error.split(": ")]
    assert len(parts) == len(set(parts)), f"the error repeats itself: {error}"
    return error


def names_the_key(error: str) -> bool:
    return bool(re.search(r"root[ ._]key|key file", error))


def test_a_corrupt_key_file_stops_startup_and_is_left_untouched(stopped: Seawall) -> None:
    key = stopped.data_dir / "root.key"
    raw = bytearray(key.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    key.write_bytes(bytes(raw))
    key_hash, rows = sha256(key), store_content(stopped.data_dir)
    error = start_fails_cleanly(stopped)
    assert names_the_key(error), error
    assert sha256(key) == key_hash, "the corrupt key file was overwritten"
    after = store_content(stopped.data_dir)
    assert after == rows, f"the store changed: {sorted(set(after) ^ set(rows))[:5]}"


def test_a_key_file_of_garbage_stops_startup(stopped: Seawall) -> None:
    key = stopped.data_dir / "root.key"
    key.write_bytes(b"not a key\n")
    error = start_fails_cleanly(stopped)
    assert names_the_key(error), error
    assert key.read_bytes() == b"not a key\n"


def test_a_missing_key_file_stops_startup_and_is_not_recreated(stopped: Seawall) -> None:
    key = stopped.data_dir / "root.key"
    key.unlink()
    rows = store_content(stopped.data_dir)
    error = start_fails_cleanly(stopped)
    assert names_the_key(error), error
    assert not key.exists(), "a new key file was made, and the data sealed by the old is lost"
    assert store_content(stopped.data_dir) == rows


def test_dot_segments_cannot_carry_a_request_into_another_route(
        gw: Seawall, upstream: Upstream, bob_token: str, marker: str) -> None:
    # Bob may use /open but not /app. A path that starts in /open and climbs into /app must be
    # decided as /app (403), or refused (400/404); never forwarded under /open's decision.
    for path in (f"/open/../app/{marker}", f"/open/%2e%2e/app/{marker}",
                 f"/open/%2E%2E/app/{marker}", f"/open/./../app/{marker}"):
        r = subprocess.run(["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w",
                            "%{http_code}", "--cacert", str(gw.cert),
                            "-H", f"Authorization: Bearer {bob_token}", gw.gateway_url + path],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout in ("400", "403", "404"), (path, r.stdout, r.stderr)
    assert not upstream.saw(marker), upstream.requests_with(marker)
    assert gw.alive()
