"""Real mail and calendar servers on 127.0.0.1 for the capture tests: pymap (IMAP, in-memory `dict` backend, one
login per process) and Radicale (CalDAV, htpasswd with plain passwords, a temporary storage folder).

Both come from PyPI (the `dev` extra). Missing, they skip the test on a laptop and fail it with CI=true.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port}")


@contextmanager
def _run(args: list[str], port: int, name: str, cwd: Path) -> Iterator[None]:
    log = open(cwd / f"{name}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - fixed args
    try:
        _wait_for_port(port, process, name)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _received(raw: bytes) -> datetime | None:
    """The message's own Date as its arrival time (the IMAP internal date SINCE searches), when it has one."""
    head = BytesHeaderParser().parsebytes(raw)
    try:
        return parsedate_to_datetime(str(head["Date"])) if head["Date"] else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ImapServer:
    port: int
    user: str
    password: str

    def url(self, folders: str = "") -> str:
        return f"imap://{self.user}:{self.password}@127.0.0.1:{self.port}/{folders}"

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port)
        client.login(self.user, self.password)
        return client

    def append(self, folder: str, raw: bytes) -> None:
        self.append_many([(folder, raw)])

    def append_many(self, items: list[tuple[str, bytes]]) -> None:
        """APPEND each (folder, message) over one session, creating folders as needed."""
        client = self.client()
        try:
            folders = {"INBOX"}
            for folder, raw in items:
                if folder not in folders:
                    client.create(folder)
                    folders.add(folder)
                status, data = client.append(folder, None, _received(raw), raw)
                assert status == "OK", data
        finally:
            client.logout()


@contextmanager
def imap_server(tmp: Path, user: str, password: str = "secret-pw") -> Iterator[ImapServer]:  # noqa: S107 - a local test server
    """A pymap server holding one empty mailbox (INBOX) for `user`."""
    if shutil.which("pymap", path=str(BIN)) is None:
        _missing("pymap is not installed (pip install pymap, in the dev extra)")
    port = _free_port()
    args = [str(BIN / "pymap"), "--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict"]
    args += ["--demo-user", user, "--demo-password", password]
    with _run(args, port, f"pymap-{port}", tmp):
        yield ImapServer(port, user, password)


@dataclass(frozen=True)
class CalDavServer:
    url: str
    user: str
    password: str


@contextmanager
def caldav_server(tmp: Path, user: str, password: str = "cal-pw") -> Iterator[CalDavServer]:  # noqa: S107 - a local test server
    """A Radicale server with one user (plain htpasswd) and an empty storage folder."""
    try:
        import radicale  # noqa: F401 - presence check only
    except ImportError:
        _missing("radicale is not installed (pip install radicale, in the dev extra)")
    port = _free_port()
    users = tmp / "htpasswd"
    users.write_text(f"{user}:{password}\n")
    args = [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}"]
    args += ["--storage-filesystem-folder", str(tmp / "collections"), "--auth-type", "htpasswd"]
    args += ["--auth-htpasswd-filename", str(users), "--auth-htpasswd-encryption", "plain"]
    with _run(args, port, f"radicale-{port}", tmp):
        yield CalDavServer(f"http://127.0.0.1:{port}/", user, password)
