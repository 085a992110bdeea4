"""Fixtures for the end-to-end tests.

Each fixture starts its own `seawall up` (the binary in `$SEAWALL_BIN`) on free loopback ports in
a temporary data directory, waits for `seawall: ready`, and stops it at the end of the session.
The main gateway (`gw`) routes to a real upstream (`harness.Upstream`) under three routes whose
Cedar policies the tests exercise:

- `/app/...`    route `app`: members of group `eng` only;
- `/open/...`   route `open`: any signed-in user;
- `/device/...` route `device`: only from a device whose posture is `compliant`;
- `/sensitive/...` route `sensitive`: anyone, with a second factor at most 5 s old (step-up);
- any route: refused when the client's country is `KP` (203.0.113.0/24 in `geo.cidr`,
  reported through `X-Forwarded-For` by the trusted proxy 127.0.0.1).

Nothing is routed at `/`, so any other path is an unknown route.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

import harness
from harness import Seawall, Upstream, User

POLICIES = {
    "gateway.cedar": """\
// Members of eng may use the app.
@id("eng-uses-app")
permit (principal in Group::"eng", action, resource == Route::"app");

// Anyone signed in may use the open route.
@id("anyone-uses-open")
permit (principal, action, resource == Route::"open");

// The device route needs a compliant device.
@id("device-needs-compliant-device")
permit (principal, action, resource == Route::"device")
when { context.device.posture == "compliant" };

// The sensitive route needs a second factor from the last 5 seconds: older, the user is
// sent to verify it again (step-up).
@id("anyone-uses-sensitive")
permit (principal, action, resource == Route::"sensitive");

@id("sensitive-needs-fresh-mfa")
@reason("stale_mfa")
@step_up("true")
forbid (principal, action, resource == Route::"sensitive")
when { context.mfa_age > 5 };

// Nothing from a blocked country.
@id("no-blocked-country")
forbid (principal, action, resource)
when { context.country == "KP" };
""",
}


def gateway_config(upstream: Upstream, extra: str = "") -> str:
    return f"""\
[gateway]
trusted_proxies = ["127.0.0.1/32", "::1/128"]

[throttle]
# The suite makes deliberate failures from 127.0.0.1; keep them from locking others out.
free_failures = 1000

[geo.cidr]
"203.0.113.0/24" = "KP"
"198.51.100.0/24" = "NL"

[[route]]
name = "app"
path_prefix = "/app"
upstream = "{upstream.url}"

[[route]]
name = "open"
path_prefix = "/open"
upstream = "{upstream.url}"

[[route]]
name = "device"
path_prefix = "/device"
upstream = "{upstream.url}"

[[route]]
name = "sensitive"
path_prefix = "/sensitive"
upstream = "{upstream.url}"
{extra}
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "audit_last: runs after every other test (checks the log they produced)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The audit-log test verifies the log the other tests wrote, so it runs last.
    items.sort(key=lambda item: item.get_closest_marker("audit_last") is not None)


@pytest.fixture(scope="session")
def seawall_bin() -> Path:
    path = harness.seawall_bin()
    if not path.exists():
        pytest.exit(f"no seawall binary at `{path}`; build it or set SEAWALL_BIN", returncode=2)
    return path


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


@pytest.fixture(scope="session")
def gw(seawall_bin: Path, upstream: Upstream,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    """The main instance: three routes to the real upstream, the policies above."""
    sw = Seawall(tmp_path_factory.mktemp("gw"), gateway_config(upstream), policies=POLICIES)
    sw.start()
    yield sw
    sw.stop()


class Users:
    """Users of the main instance, created on first use and signed in (TOTP enrolled)."""

    # Access tokens live 5 minutes by default; renew well before that.
    RENEW_AFTER = 120.0

    def __init__(self, sw: Seawall) -> None:
        self.sw = sw
        self.users: dict[str, User] = {}
        self.tokens: dict[str, dict] = {}
        self.issued: dict[str, float] = {}

    def get(self, name: str, groups: tuple[str, ...] = ()) -> User:
        if name not in self.users:
            user = self.sw.add_user(name, groups)
            self.tokens[name] = self.sw.sign_in(user)
            self.issued[name] = time.monotonic()
            self.users[name] = user
        return self.users[name]

    def token(self, name: str, groups: tuple[str, ...] = ()) -> str:
        """A current access token of `name`, refreshed (or signed in again) when old."""
        user = self.get(name, groups)
        if time.monotonic() - self.issued[name] > self.RENEW_AFTER:
            r = self.sw.api("POST", "/api/v1/auth/refresh",
                            json={"refresh_token": self.tokens[name]["refresh_token"]})
            self.tokens[name] = r.json() if r.status_code == 200 else self.sw.sign_in(user)
            self.issued[name] = time.monotonic()
        return self.tokens[name]["access_token"]


@pytest.fixture(scope="session")
def users(gw: Seawall) -> Users:
    return Users(gw)


@pytest.fixture
def alice_token(users: Users) -> str:
    """A member of `eng`."""
    return users.token("alice", ("eng",))


@pytest.fixture
def bob_token(users: Users) -> str:
    """Signed in, but in no group that the app route allows."""
    return users.token("bob", ("sales",))


@pytest.fixture
def marker() -> str:
    """A unique path segment, so a test can find its own requests in the upstream's log."""
    return "m-" + os.urandom(6).hex()
