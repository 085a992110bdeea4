"""Shared set-up for the vault tests: a running control plane and its initial root token.

The root token comes from `seawall operator init` run on the server's data directory, as an
operator would get it; the tests then use `hvac`, the Python client for HashiCorp Vault, which
we did not write, for everything else.
"""

from __future__ import annotations

import re
from pathlib import Path

import hvac

from harness import Seawall


def start_server(workdir: Path, config_toml: str = "", env: dict[str, str] | None = None) -> Seawall:
    sw = Seawall(workdir, config_toml=config_toml, env=env, role="server")
    sw.start()
    return sw


def root_token(sw: Seawall) -> str:
    """Runs `seawall operator init` and returns the initial root token it prints."""
    r = sw.cli("operator", "init", check=True)
    m = re.search(r"Initial Root Token:\s*(\S+)", r.stdout)
    assert m, f"no root token in `seawall operator init` output:\n{r.stdout}\n{r.stderr}"
    return m.group(1)


def client(sw: Seawall, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=sw.server_url, token=token, verify=str(sw.cert), timeout=15)
