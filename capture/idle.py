"""The worker-side IMAP IDLE loop (`manage.py capture_idle`): a capture pass for a member as soon as their IMAP
server announces new mail, instead of every few minutes.

Bounded on every side: each IDLE wait lasts at most CAPTURE_IDLE_SECONDS (RFC 2177 asks for less than 29 minutes;
then the connection is renewed), a failed connection waits (doubling up to five minutes) and connects again, and
the loop returns after `max_seconds` (the process supervisor starts it again). A server without IDLE, or
`poll=True`, falls back to a pass every `poll_seconds`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings

from capture import imap
from capture.models import ConnectionStatus, MailboxConnection, MailboxKind
from capture.services import capture_run

logger = logging.getLogger(__name__)
MAX_BACKOFF = 300.0


def _last_uid(connection: MailboxConnection, folder: str) -> int:
    connection.refresh_from_db(fields=["cursor", "status"])
    return int((connection.cursor.get(folder) or {}).get("uid", 0))


def idle_loop(
    *,
    connection: MailboxConnection,
    max_seconds: float,
    idle_seconds: float | None = None,
    poll_seconds: float = 300.0,
    poll: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run until `max_seconds` have passed or the mailbox is disconnected. Returns what happened."""
    if connection.kind != MailboxKind.IMAP:
        raise ValueError("IDLE is an IMAP command: Gmail and Microsoft 365 mailboxes are read by the schedule.")
    idle_seconds = float(idle_seconds or django_settings.CAPTURE_IDLE_SECONDS)
    folder = "INBOX" if "INBOX" in connection.settings.get("folders", []) else str(connection.settings["folders"][0])
    deadline = time.monotonic() + max_seconds
    report: dict[str, Any] = {"mode": "poll" if poll else "idle", "passes": 0, "waits": 0, "errors": 0, "new": 0}

    def run_pass() -> None:
        result = capture_run(workspace=connection.workspace, member=connection.member)
        report["passes"] += 1
        report["new"] += result["messages"]["new"]

    run_pass()  # catch up first
    backoff = 1.0
    while (remaining := deadline - time.monotonic()) > 0:
        last_uid = _last_uid(connection, folder)  # reloads the status too
        if connection.status in (ConnectionStatus.DISCONNECTED, ConnectionStatus.BROKEN):
            break
        if report["mode"] == "poll":
            sleep(min(poll_seconds, remaining))
            run_pass()
            continue
        try:
            report["waits"] += 1
            signalled = imap.wait_for_mail(
                connection.settings,
                connection.secret,
                folder,
                last_uid,
                min(idle_seconds, remaining),
            )
        except Exception as exc:  # the server went away, the network dropped: wait, then connect again
            report["errors"] += 1
            logger.warning("capture idle: %s: %s; again in %.0f s", connection.uuid, exc, backoff)
            sleep(min(backoff, max(remaining, 0)))
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        if signalled is None:
            logger.info("capture idle: %s has no IDLE; polling every %.0f s", connection.uuid, poll_seconds)
            report["mode"] = "poll"
            continue
        if signalled:
            run_pass()
    return report
