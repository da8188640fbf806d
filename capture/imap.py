"""Reading mail from an IMAP server with imap-tools: new messages per folder, by UIDVALIDITY/UID.

Plain module (no Django). The caller keeps the cursor `{folder: {"uidvalidity": int, "uid": int}}` and stores it
after each batch it has written, so a run killed halfway resumes after the last stored batch. A new UIDVALIDITY
(the folder was rebuilt) starts the folder over; Message-ID dedupe makes that harmless.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote, urlsplit

from imap_tools import BaseMailBox, MailBox, MailBoxUnencrypted
from imap_tools.folder import FolderInfo

BATCH = 100
# A message larger than this is read as headers only: its attachments are never stored anyway.
MAX_FETCH_BYTES = 5 * 1024 * 1024
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
SENT_NAMES = ("sent", "sent items", "sent messages", "sent mail", "[gmail]/sent mail")


class ImapUrlError(ValueError):
    pass


@dataclass(frozen=True)
class FetchedMail:
    folder: str
    uid: int
    raw: bytes
    headers_only: bool


def parse_imap_url(url: str) -> tuple[dict[str, object], str]:
    """`imap[s]://USER:PASSWORD@HOST:PORT[/FOLDER,FOLDER…]` → (settings without the password, password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps"):
        raise ImapUrlError("The URL must start with imap:// or imaps://.")
    if not parts.hostname or not parts.username or parts.password is None:
        raise ImapUrlError("The URL needs a user, a password and a host: imaps://USER:PASSWORD@HOST:PORT/.")
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise ImapUrlError("The port is not a number.") from None
    folders = [unquote(f).strip() for f in parts.path.lstrip("/").split(",") if f.strip()]
    settings = {
        "host": parts.hostname,
        "port": port,
        "tls": parts.scheme == "imaps",
        "username": unquote(parts.username),
        "folders": folders,
    }
    return settings, unquote(parts.password)


def _open(settings: dict[str, object], password: str, timeout: float = 30.0) -> BaseMailBox:
    host, port = str(settings["host"]), int(str(settings["port"]))
    box: BaseMailBox
    if settings.get("tls"):
        context = ssl.create_default_context()
        if settings.get("insecure_tls"):  # self-signed test servers only (never set from a URL)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        box = MailBox(host, port, timeout=timeout, ssl_context=context)
    else:
        box = MailBoxUnencrypted(host, port, timeout=timeout)
    return box.login(str(settings["username"]), password, initial_folder=None)


def _default_folders(folders: list[FolderInfo]) -> list[str]:
    """INBOX and the sent folder (by its \\Sent special-use flag, else by its usual names)."""
    chosen = ["INBOX"] if any(f.name.upper() == "INBOX" for f in folders) else []
    sent = [f.name for f in folders if "\\Sent" in f.flags]
    sent = sent or [f.name for f in folders if f.name.lower() in SENT_NAMES]
    return chosen + sent[:1]


def check_and_resolve(settings: dict[str, object], password: str) -> list[str]:
    """Log in once and return the folders to read: the ones asked for (each must exist) or INBOX + Sent."""
    with _open(settings, password) as box:
        present = box.folder.list()
        names = {f.name for f in present}
        wanted = [str(f) for f in settings.get("folders") or []]  # type: ignore[attr-defined]  # JSON list
        missing = [f for f in wanted if f not in names]
        if missing:
            raise ImapUrlError(
                f"No such folder on the server: {', '.join(missing)} (it has {', '.join(sorted(names))})."
            )
        return wanted or _default_folders(present)


def _fetch(box: BaseMailBox, folder: str, uids: list[int]) -> list[FetchedMail]:
    sizes: dict[int, int] = {}
    status, data = box.client.uid("fetch", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
    for item in data if status == "OK" else []:
        line = item if isinstance(item, bytes) else (item[0] if isinstance(item, tuple) else b"")
        uid, size = _UID.search(line), _SIZE.search(line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    small = [u for u in uids if sizes.get(u, 0) <= MAX_FETCH_BYTES]
    big = [u for u in uids if u not in set(small)]
    found: dict[int, FetchedMail] = {}
    for chosen, part, headers_only in ((small, "BODY.PEEK[]", False), (big, "BODY.PEEK[HEADER]", True)):
        if not chosen:
            continue
        status, data = box.client.uid("fetch", ",".join(map(str, chosen)), f"(UID {part})")
        for item in data if status == "OK" else []:
            if isinstance(item, tuple) and len(item) == 2:
                uid = _UID.search(item[0])
                if uid:
                    found[int(uid.group(1))] = FetchedMail(folder, int(uid.group(1)), item[1], headers_only)
    return [found[u] for u in uids if u in found]


def fetch_new(
    settings: dict[str, object],
    password: str,
    cursor: dict[str, dict[str, int]],
    *,
    since: date | None = None,
    batch: int = BATCH,
) -> Iterator[tuple[str, dict[str, int], list[FetchedMail]]]:
    """Yield (folder, the folder's cursor after this batch, the batch) for every message past the cursor.

    A folder read for the first time (or with a new UIDVALIDITY) starts at messages received `since` that day; its
    cursor still moves to the folder's newest UID, so older mail is never read later either.
    """
    folders = [str(f) for f in settings.get("folders") or ["INBOX"]]  # type: ignore[attr-defined]  # JSON list
    with _open(settings, password) as box:
        for folder in folders:
            box.folder.set(folder, readonly=True)
            status = box.folder.status(folder, ["UIDVALIDITY", "UIDNEXT"])
            validity = int(status["UIDVALIDITY"])
            state = cursor.get(folder) or {}
            last = int(state.get("uid", 0)) if state.get("uidvalidity") == validity else 0
            criteria = f"UID {last + 1}:*"
            if last == 0 and since is not None:
                criteria += f" SINCE {since.strftime('%d-%b-%Y')}"
            # "UID n:*" always returns the newest message even when it is below n, hence the filter.
            uids = sorted(u for u in map(int, box.uids(criteria)) if u > last)
            newest = int(status.get("UIDNEXT", 1)) - 1
            if not uids and last == 0 and newest > 0:
                yield folder, {"uidvalidity": validity, "uid": newest}, []  # nothing recent: skip the old mail
            for start in range(0, len(uids), batch):
                chunk = uids[start : start + batch]
                yield folder, {"uidvalidity": validity, "uid": chunk[-1]}, _fetch(box, folder, chunk)


def wait_for_mail(
    settings: dict[str, object], password: str, folder: str, last_uid: int, timeout: float
) -> bool | None:
    """Wait on `folder` with IMAP IDLE (RFC 2177) for at most `timeout` seconds: True when the server announced new
    mail (or mail past `last_uid` was already there), False on a quiet timeout, None when the server has no IDLE
    (the caller polls). One connection per wait, so a dropped one is simply opened again on the next."""
    with _open(settings, password, timeout=timeout + 30) as box:
        answer, data = box.client.capability()  # after login: servers list more than in their greeting
        advertised = b" ".join(d for d in data if isinstance(d, bytes)).upper().split() if answer == "OK" else []
        if b"IDLE" not in advertised:
            return None
        box.folder.set(folder, readonly=True)
        status = box.folder.status(folder, ["UIDNEXT"])
        if int(status.get("UIDNEXT", 1)) - 1 > last_uid:
            return True  # arrived while nobody was waiting
        responses = box.idle.wait(timeout=min(timeout, 29 * 60))
        return any(b"EXISTS" in line or b"RECENT" in line for line in responses)
