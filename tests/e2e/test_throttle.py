"""Sign-in throttling: backoff after repeated failures, visible to admins, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from harness import Seawall


@pytest.fixture(scope="module")
def strict(seawall_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    sw = Seawall(tmp_path_factory.mktemp("throttle"),
                 "[throttle]\nfree_failures = 2\nbase_delay_ms = 5000\nmax_delay_secs = 60\n")
    sw.start()
    yield sw
    sw.stop()


def test_repeated_failures_are_throttled_and_visible_to_admins(strict: Seawall) -> None:
    user = strict.add_user("mallet", [])
    strict.enroll(user)
    good = user.password
    user.password = "wrong-" + good
    statuses = [strict.password_step(user).status_code for _ in range(4)]
    assert statuses[:2] == [401, 401], statuses
    assert 429 in statuses, f"no backoff after {len(statuses)} failures: {statuses}"

    # While the backoff lasts, even the right password is turned away, with a retry time.
    user.password = good
    r = strict.password_step(user)
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] == "throttled" and body["retry_after"] > 0, body
    assert "pending" not in body

    r = strict.cli("user", "lockouts", check=True)
    subjects = [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]
    assert any("mallet" in s for s in subjects), r.stdout

    # An admin clears them (the user's, and the address's if it has one); the user signs in.
    for subject in subjects:
        strict.cli("user", "lockouts", "--clear", subject, check=True)
    done = strict.sign_in(user)
    assert done["access_token"]


def test_throttling_is_audited(strict: Seawall, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    strict.cli("audit-log", "export", "-o", str(out), check=True)
    text = out.read_text().lower()
    assert "mallet" in text or "throttl" in text or "lockout" in text
    assert "throttl" in text or "lockout" in text, "no throttle/lockout record in the audit log"
