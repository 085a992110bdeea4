"""Helpers for the end-to-end tests: run the real `seawall` binary, a real upstream, real clients.

Nothing here imitates Seawall. `Seawall` starts `seawall up` as a child process on free loopback
ports in its own temporary data directory and talks to it over HTTP(S) and its CLI. `Upstream` is
a small threaded HTTP server that answers every request with what it received and keeps its own
access log, so a test can tell whether a request ever reached it. TOTP codes come from `pyotp`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyotp
import requests

READY_LINE = "seawall: ready"
START_TIMEOUT = float(os.environ.get("SEAWALL_E2E_START_TIMEOUT", "90"))
TOTP_STEP = 30


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def seawall_bin() -> Path:
    """The binary under test: `$SEAWALL_BIN`, else target/release/seawall, else debug."""
    env = os.environ.get("SEAWALL_BIN")
    if env:
        return Path(env).resolve()
    for profile in ("release", "debug"):
        p = repo_root() / "target" / profile / "seawall"
        if p.exists():
            return p
    return repo_root() / "target" / "release" / "seawall"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# --------------------------------------------------------------------------------------------
# The upstream


class Upstream:
    """A real HTTP/1.1 server on loopback that echoes each request as JSON and logs it.

    `GET /__access_log` on it returns the log (the same list as `.log`), like the demo upstream
    of `seawall up --demo`; the tests read `.log` directly so that reading the log never adds to
    it.
    """

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _answer(self) -> None:
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    self._websocket()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/__access_log":
                    with upstream._lock:
                        out = json.dumps(upstream.log).encode()
                    self._send(200, out, "application/json")
                    return
                seen = {
                    "method": self.command,
                    "path": self.path,
                    # Every header as sent, repeated names kept, in order.
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body": body.decode("utf-8", "replace"),
                }
                with upstream._lock:
                    upstream.log.append(seen)
                accept = self.headers.get("Accept", "")
                if "text/html" in accept:
                    page = (
                        "<!doctype html><html><head><title>upstream</title></head><body>"
                        f"<h1 id=upstream>upstream saw {self.command} {self.path}</h1>"
                        "</body></html>"
                    ).encode()
                    self._send(200, page, "text/html; charset=utf-8")
                else:
                    self._send(200, json.dumps({"upstream": "ok", **seen}).encode(),
                               "application/json")

            def _websocket(self) -> None:
                """RFC 6455 handshake, then echoes text frames until the client closes."""
                with upstream._lock:
                    upstream.log.append({"method": "WEBSOCKET", "path": self.path,
                                         "headers": [[k, v] for k, v in self.headers.items()],
                                         "body": ""})
                key = self.headers.get("Sec-WebSocket-Key", "")
                accept = base64.b64encode(hashlib.sha1(
                    (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                self.wfile.flush()
                while True:
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        return
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    if length == 126:
                        length = int.from_bytes(self.rfile.read(2), "big")
                    elif length == 127:
                        length = int.from_bytes(self.rfile.read(8), "big")
                    mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                    if opcode == 0x8:  # close: answer it and stop
                        self.wfile.write(b"\x88\x00")
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if opcode in (0x1, 0x2):
                        reply = b"echo: " + data
                        if len(reply) < 126:
                            frame = bytes([0x80 | opcode, len(reply)])
                        else:
                            frame = bytes([0x80 | opcode, 126]) + len(reply).to_bytes(2, "big")
                        self.wfile.write(frame + reply)
                        self.wfile.flush()

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def paths(self) -> list[str]:
        with self._lock:
            return [r["path"] for r in self.log]

    def saw(self, marker: str) -> bool:
        """Did any request whose path contains `marker` arrive?"""
        return any(marker in p for p in self.paths())

    def requests_with(self, marker: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.log if marker in r["path"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def header_values(seen: dict[str, Any], name: str) -> list[str]:
    """All values of header `name` (case-insensitive) in an upstream log entry."""
    return [v for k, v in seen["headers"] if k.lower() == name.lower()]


# --------------------------------------------------------------------------------------------
# Users and TOTP


@dataclass
class User:
    name: str
    password: str
    groups: list[str] = field(default_factory=list)
    totp: pyotp.TOTP | None = None
    # The highest TOTP time step this user has spent; a code is never offered twice.
    last_step: int = -1

    def fresh_code(self) -> str:
        """A TOTP code that this user has not used yet.

        The code of the current 30 s step when it is unspent, else the next step's code (the
        server accepts one step of clock skew, RFC 6238 section 6), else it waits for the next
        step. So a test never trips the (correct) reuse protection by accident.
        """
        assert self.totp is not None, f"{self.name} has no TOTP factor yet"
        while True:
            now = time.time()
            step = int(now // TOTP_STEP)
            # Keep away from the last second of a step, where client and server may disagree.
            late = (now % TOTP_STEP) > TOTP_STEP - 1
            for candidate in (step, step + 1):
                if candidate > self.last_step and not (late and candidate == step):
                    self.last_step = candidate
                    return self.totp.at(candidate * TOTP_STEP)
            time.sleep(TOTP_STEP - (now % TOTP_STEP) + 0.05)


def new_password() -> str:
    return "pw-" + uuid.uuid4().hex


# --------------------------------------------------------------------------------------------
# Seawall


class SignInError(AssertionError):
    pass


class Seawall:
    """One `seawall up` process with its own data directory and ports."""

    def __init__(
        self,
        workdir: Path,
        config_toml: str = "",
        env: dict[str, str] | None = None,
        demo: bool = False,
        policies: dict[str, str] | None = None,
        role: str = "up",
    ) -> None:
        self.bin = seawall_bin()
        # `up` (all in one), `server` (control plane) or `proxy` (gateway alone).
        self.role = role
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.policy_dir = workdir / "policies"
        self.config_path = workdir / "seawall.toml"
        self.log_path = workdir / "seawall.log"
        self.server_port = free_port()
        self.gateway_port = free_port()
        self.admin_port = free_port()
        self.demo = demo
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

        workdir.mkdir(parents=True, exist_ok=True)
        if policies is not None:
            self.policy_dir.mkdir(parents=True, exist_ok=True)
            for name, text in policies.items():
                (self.policy_dir / name).write_text(text)
            policy_line = f'dir = "{self.policy_dir}"\n'
        else:
            policy_line = ""
        # The policy section is written here so a test config never repeats `[policy]`.
        self.config_path.write_text(
            "[policy]\n" + policy_line + "reload_interval_ms = 200\n\n" + config_toml
        )
        # Addresses come from environment overrides, as an operator would set them.
        self.env = dict(os.environ)
        self.env.update(
            {
                "SEAWALL_SERVER__LISTEN": f"127.0.0.1:{self.server_port}",
                "SEAWALL_GATEWAY__LISTEN": f"127.0.0.1:{self.gateway_port}",
                "SEAWALL_SERVER__ADMIN_LISTEN": f"127.0.0.1:{self.admin_port}",
                "SEAWALL_HOME": str(workdir / "client-home"),
                "NO_COLOR": "1",
            }
        )
        self.env.pop("SEAWALL_DATA_DIR", None)
        if env:
            self.env.update(env)

    # -- process -------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.server_port}"

    @property
    def gateway_url(self) -> str:
        return f"https://127.0.0.1:{self.gateway_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/metrics"

    @property
    def cert(self) -> Path:
        """The certificate to trust for this instance: the local CA that issued the server
        certificate (`tls/ca.pem`) when there is one, else the self-signed `tls/cert.pem`."""
        ca = self.data_dir / "tls" / "ca.pem"
        return ca if ca.exists() else self.data_dir / "tls" / "cert.pem"

    def up_args(self) -> list[str]:
        args = [str(self.bin), self.role, "--data-dir", str(self.data_dir),
                "--config", str(self.config_path)]
        if self.demo:
            args.append("--demo")
        return args

    def start(self, timeout: float = START_TIMEOUT) -> "Seawall":
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.up_args(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.workdir,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self.log_text():
                return self
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"`seawall up` exited with {self.proc.returncode} before `{READY_LINE}`:\n"
                    + self.log_tail()
                )
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"`seawall up` not ready after {timeout}s:\n" + self.log_tail())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- CLI -----------------------------------------------------------------------------

    def cli(self, *args: str, input: str | None = None, timeout: float = 60,
            data_dir: bool = True, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Runs `seawall ARGS... [--data-dir D --config F]` and returns the result."""
        cmd = [str(self.bin), *args]
        if data_dir:
            cmd += ["--data-dir", str(self.data_dir), "--config", str(self.config_path)]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                           env=self.env, cwd=self.workdir)
        if check and r.returncode != 0:
            raise AssertionError(
                f"`seawall {' '.join(args)}` exited {r.returncode}\nstdout: {r.stdout}\n"
                f"stderr: {r.stderr}"
            )
        return r

    def add_user(self, name: str, groups: list[str] | tuple[str, ...] = ()) -> User:
        user = User(name=name, password=new_password(), groups=list(groups))
        args = ["user", "add", name]
        for g in groups:
            args += ["--group", g]
        args.append("--password-stdin")
        self.cli(*args, input=user.password + "\n", check=True)
        return user

    # -- HTTP ----------------------------------------------------------------------------

    def session(self) -> requests.Session:
        s = requests.Session()
        s.verify = str(self.cert)
        return s

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 15)
        # Explicitly: requests lets REQUESTS_CA_BUNDLE from the environment override a
        # session's `verify`, and some machines set it.
        kw.setdefault("verify", str(self.cert))
        return self.session().request(method, self.server_url + path, **kw)

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts only this instance's self-signed certificate."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx

    # -- sign-in API ---------------------------------------------------------------------

    def password_step(self, user: User) -> requests.Response:
        return self.api("POST", "/api/v1/auth/password",
                        json={"username": user.name, "password": user.password})

    def enroll(self, user: User) -> dict[str, Any]:
        """Password, then TOTP enrollment with a pyotp code: returns the `done` answer."""
        r = self.password_step(user)
        assert r.status_code == 200, f"password step: {r.status_code} {r.text}"
        body = r.json()
        assert body.get("step") == "enroll", f"expected enrollment for {user.name}: {body}"
        assert "access_token" not in body
        pending = body["pending"]
        r = self.api("POST", "/api/v1/auth/enroll/totp", json={"pending": pending})
        assert r.status_code == 200, f"enroll/totp: {r.status_code} {r.text}"
        e = r.json()
        user.totp = pyotp.TOTP(e["secret"])
        r = self.api("POST", "/api/v1/auth/enroll/totp/confirm",
                     json={"pending": pending, "kind": "totp", "code": user.fresh_code()})
        assert r.status_code == 200, f"enroll confirm: {r.status_code} {r.text}"
        done = r.json()
        assert done.get("step") == "done", done
        done["_enrollment"] = e
        return done

    def sign_in(self, user: User) -> dict[str, Any]:
        """Signs `user` in through the JSON API, enrolling TOTP first when needed."""
        if user.totp is None:
            return self.enroll(user)
        r = self.password_step(user)
        if r.status_code != 200:
            raise SignInError(f"password step for {user.name}: {r.status_code} {r.text}")
        body = r.json()
        assert body.get("step") == "second_factor", body
        r = self.api("POST", "/api/v1/auth/factor",
                     json={"pending": body["pending"], "kind": "totp",
                           "code": user.fresh_code()})
        if r.status_code != 200:
            raise SignInError(f"factor step for {user.name}: {r.status_code} {r.text}")
        done = r.json()
        assert done.get("step") == "done", done
        return done

    # -- gateway -------------------------------------------------------------------------

    def curl(self, path: str, *, token: str | None = None, headers: dict[str, str] | None = None,
             raw_headers: list[str] | None = None, method: str = "GET",
             cacert: bool = True, timeout: float = 15) -> "CurlResult":
        """Requests `path` from the gateway with the real curl binary."""
        return curl(self.gateway_url + path, token=token, headers=headers,
                    raw_headers=raw_headers, method=method,
                    cacert=str(self.cert) if cacert else None, timeout=timeout)

    def wait_until(self, predicate, timeout: float, interval: float = 0.05) -> float | None:
        """Polls `predicate` until true; returns the seconds it took, or None on timeout."""
        start = time.monotonic()
        while True:
            if predicate():
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                return None
            time.sleep(interval)


@dataclass
class CurlResult:
    status: int
    headers: dict[str, str]
    body: str
    stderr: str


def curl(url: str, *, token: str | None = None, headers: dict[str, str] | None = None,
         raw_headers: list[str] | None = None, method: str = "GET", cacert: str | None = None,
         timeout: float = 15, data: str | None = None) -> CurlResult:
    """One request with curl; returns the status, the response headers and the body."""
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-X", method, "-D", "-",
           "--noproxy", "*"]
    if cacert:
        cmd += ["--cacert", cacert]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    for h in raw_headers or []:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", data]
    cmd.append(url)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0 and not out:
        raise AssertionError(f"curl {url} failed ({r.returncode}): {r.stderr.decode()}")
    # Skip interim responses (100 Continue) and take the final header block.
    head, _, body = out.partition("\r\n\r\n")
    while head.startswith("HTTP/") and " 100 " in head.split("\r\n")[0]:
        head, _, body = body.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return CurlResult(status=status, headers=hdrs, body=body,
                      stderr=r.stderr.decode("utf-8", "replace"))


def copy_data_dir(src: Path, dst: Path) -> None:
    """Copies a live data directory: files as they are, the SQLite store by its backup API."""
    import sqlite3

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("seawall.db", "seawall.db-*"))
    source = sqlite3.connect(f"file:{src / 'seawall.db'}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst / "seawall.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
