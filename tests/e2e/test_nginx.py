"""Debian's nginx with `auth_request` pointed at Seawall's forward-auth endpoint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from harness import Seawall, Upstream, curl, free_port, wait_for_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """\
worker_processes 1;
error_log {tmp}/error.log info;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    server {{
        listen 127.0.0.1:{port};

        location / {{
            auth_request /.seawall-auth;
            # The identity Seawall decided on goes to the upstream.
            auth_request_set $seawall_user $upstream_http_x_forwarded_user;
            proxy_set_header X-Forwarded-User $seawall_user;
            proxy_pass {upstream};
        }}

        location = /.seawall-auth {{
            internal;
            proxy_pass {gateway}/.seawall/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto http;
            proxy_ssl_server_name on;
            proxy_ssl_name localhost;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {cert};
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx(gw: Seawall, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[str]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed; run scripts/install-deps.sh")
    tmp = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(CONF.format(tmp=tmp, port=port, upstream=upstream.url,
                                gateway=gw.gateway_url, cert=gw.cert))
    check = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(conf), "-e",
                            str(tmp / "error.log")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(conf), "-e",
                             str(tmp / "error.log"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_nginx_lets_an_allowed_request_through(nginx: str, upstream: Upstream,
                                               alice_token: str, marker: str) -> None:
    r = curl(f"{nginx}/app/{marker}", token=alice_token)
    assert r.status == 200, r.body
    seen = upstream.requests_with(marker)
    assert len(seen) == 1
    # The user name Seawall decided on, not one the client could choose.
    users = [v for k, v in seen[0]["headers"] if k.lower() == "x-forwarded-user"]
    assert users and users[0], users


def test_nginx_stops_a_request_policy_denies(nginx: str, upstream: Upstream, bob_token: str,
                                             marker: str) -> None:
    r = curl(f"{nginx}/app/{marker}", token=bob_token)
    assert r.status == 403, r.body
    assert not upstream.saw(marker)


def test_nginx_stops_a_request_without_credentials(nginx: str, upstream: Upstream,
                                                   marker: str) -> None:
    r = curl(f"{nginx}/app/{marker}", headers={"Accept": "application/json"})
    assert r.status == 401, r.body
    r = curl(f"{nginx}/app/{marker}", token="garbage")
    assert r.status == 401, r.body
    assert not upstream.saw(marker)


def test_nginx_stops_a_client_spoofing_the_user_header(nginx: str, upstream: Upstream,
                                                       marker: str) -> None:
    r = curl(f"{nginx}/app/{marker}", headers={"X-Forwarded-User": "alice",
                                                "Accept": "application/json"})
    assert r.status == 401, r.body
    assert not upstream.saw(marker)
