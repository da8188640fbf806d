"""Start the local identity providers of the SSO tests as subprocesses: oidc-provider (Node) and a pysaml2 IdP.

Both listen on 127.0.0.1 on a free port and are stopped when the `with` block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
OIDC_DIR = HERE / "oidc"
SAML_SCRIPT = HERE / "saml" / "idp.py"
XMLSEC1 = Path("/usr/bin/xmlsec1")
OIDC_CLIENT_ID = "vectoros-test"
OIDC_CLIENT_SECRET = "vectoros-test-secret"  # the local test IdP's client, nothing real


@dataclass(frozen=True)
class RunningIdP:
    url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def _process(args: list[str], *, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run a server until it prints "ready <url>"; stop it afterwards."""
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        args, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        seen = []
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if line.startswith("ready "):
                break
        else:
            raise RuntimeError(f"{args[0]} stopped before it was ready:\n{''.join(seen)}")
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def oidc_provider(redirect_uris: list[str]) -> Iterator[RunningIdP]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("node and npm are needed for the local OpenID Connect provider (apt-get install -y nodejs npm)")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, check=True, capture_output=True)  # noqa: S603
    env = {
        "PORT": str(_free_port()),
        "CLIENT_ID": OIDC_CLIENT_ID,
        "CLIENT_SECRET": OIDC_CLIENT_SECRET,
        "REDIRECT_URIS": ",".join(redirect_uris),
    }
    with _process([node, "server.js"], env=env, cwd=OIDC_DIR) as url:
        yield RunningIdP(url)


@contextmanager
def saml_idp() -> Iterator[RunningIdP]:
    if not XMLSEC1.exists():
        _missing("the xmlsec1 binary is needed for the local SAML IdP (apt-get install -y xmlsec1)")
    args = [sys.executable, "-W", "ignore", str(SAML_SCRIPT), str(_free_port())]
    with _process(args, env={}, cwd=HERE) as url:
        yield RunningIdP(url)


def oidc_authorize_as(authorize_url: str, email: str, *, sp_origin: str = "http://testserver") -> str:
    """Go through oidc-provider's own sign-in and consent pages over HTTP, as `email`.

    Returns the path and query of the redirect back to the service provider (its OIDC callback with the code).
    """
    import re

    import requests

    def form_action(html: str, base: str) -> str:
        match = re.search(r'<form[^>]*action="([^"]+)"', html)
        assert match, f"no form on the IdP's page:\n{html[:500]}"
        return requests.compat.urljoin(base, match.group(1))

    with requests.Session() as idp:
        page = idp.get(authorize_url, timeout=10)
        page.raise_for_status()
        page = idp.post(
            form_action(page.text, page.url),
            data={"prompt": "login", "login": email, "password": "any"},
            timeout=10,
        )
        page.raise_for_status()
        response = idp.post(
            form_action(page.text, page.url), data={"prompt": "consent"}, allow_redirects=False, timeout=10
        )
        location = response.headers["Location"]
        while not location.startswith(sp_origin):
            response = idp.get(requests.compat.urljoin(response.url, location), allow_redirects=False, timeout=10)
            location = response.headers["Location"]
    return location[len(sp_origin) :]
