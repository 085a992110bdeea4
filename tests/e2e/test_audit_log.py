"""The audit log the other tests produced verifies, and any edit or deletion is named.

Runs after every other test (marker `audit_last`), on the main instance's log.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from harness import Seawall, copy_data_dir

pytestmark = pytest.mark.audit_last


def verify(sw: Seawall, *args: str) -> tuple[int, str]:
    r = sw.cli("audit-log", "verify", *args, data_dir=False)
    return r.returncode, r.stdout + r.stderr


def names(out: str, *seqs: int) -> bool:
    return any(re.search(rf"(?<![0-9]){s}(?![0-9])", out) for s in seqs)


def flip_one_byte(body: str) -> str:
    """Changes one digit of the record's time: still JSON, one byte different."""
    m = re.search(r'"time":(\d)', body)
    assert m, body
    i = m.start(1)
    return body[:i] + str((int(body[i]) + 1) % 10) + body[i + 1:]


@pytest.fixture(scope="module")
def records(gw: Seawall) -> int:
    db = sqlite3.connect(f"file:{gw.data_dir / 'seawall.db'}?mode=ro", uri=True, timeout=30)
    (count,) = db.execute("SELECT count(*) FROM audit_log").fetchone()
    db.close()
    assert count > 20, f"only {count} audit records after the whole suite"
    return count


def test_the_log_the_tests_produced_verifies(gw: Seawall, records: int) -> None:
    code, out = verify(gw, "--data-dir", str(gw.data_dir))
    assert code == 0, out


def test_the_export_has_every_kind_of_event_and_no_secret(gw: Seawall, users, records: int,
                                                          tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    r = gw.cli("audit-log", "export", "-o", str(export), check=True)
    lines = export.read_text().splitlines()
    assert len(lines) >= records
    parsed = [json.loads(line) for line in lines]
    assert [p["seq"] for p in parsed] == list(range(1, len(parsed) + 1))
    text = export.read_text()
    for word in ("sign", "deny", "allow", "refresh", "enroll"):
        assert word in text.lower(), f"no `{word}` event in the audit log"
    # No token or password of any user is written.
    for name, user in users.users.items():
        assert user.password not in text, f"{name}'s password is in the audit log"
        for key in ("access_token", "refresh_token", "session_token"):
            value = users.tokens[name].get(key)
            if value:
                assert value not in text, f"{name}'s {key} is in the audit log"
    assert r.returncode == 0
    code, out = verify(gw, "--file", str(export))
    assert code == 0, out


def test_verify_names_a_record_changed_by_one_byte(gw: Seawall, records: int,
                                                   tmp_path: Path) -> None:
    copy = tmp_path / "data"
    copy_data_dir(gw.data_dir, copy)
    target = records // 2
    db = sqlite3.connect(copy / "seawall.db")
    (body,) = db.execute("SELECT body FROM audit_log WHERE seq = ?", (target,)).fetchone()
    with db:
        db.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (flip_one_byte(body), target))
    db.close()
    code, out = verify(gw, "--data-dir", str(copy))
    assert code == 1, out
    assert names(out, target), f"record {target} was edited; verify said: {out}"


def test_verify_names_a_deleted_record(gw: Seawall, records: int, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    copy_data_dir(gw.data_dir, copy)
    target = records // 3
    db = sqlite3.connect(copy / "seawall.db")
    with db:
        db.execute("DELETE FROM audit_log WHERE seq = ?", (target,))
    db.close()
    code, out = verify(gw, "--data-dir", str(copy))
    assert code == 1, out
    assert names(out, target, target + 1), f"record {target} was deleted; verify said: {out}"


def test_verify_names_an_edited_or_missing_line_of_an_export(gw: Seawall, records: int,
                                                             tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    gw.cli("audit-log", "export", "-o", str(export), check=True)
    lines = export.read_text().splitlines(keepends=True)
    target = len(lines) // 2

    edited = tmp_path / "edited.jsonl"
    changed = list(lines)
    changed[target - 1] = flip_one_byte(changed[target - 1])
    edited.write_text("".join(changed))
    code, out = verify(gw, "--file", str(edited))
    assert code == 1, out
    assert names(out, target), out

    removed = tmp_path / "removed.jsonl"
    removed.write_text("".join(lines[: target - 1] + lines[target:]))
    code, out = verify(gw, "--file", str(removed))
    assert code == 1, out
    assert names(out, target, target + 1), out

    swapped = tmp_path / "swapped.jsonl"
    reordered = list(lines)
    reordered[target - 1], reordered[target] = reordered[target], reordered[target - 1]
    swapped.write_text("".join(reordered))
    code, out = verify(gw, "--file", str(swapped))
    assert code == 1, out
    assert names(out, target, target + 1), out
