"""Reading mail through the Gmail API (google-api-python-client, OAuth refresh token), incremental by historyId.

Plain module (no Django). The first pass lists the messages received or sent since the look-back day
(`users.messages.list`, `q=after:`), later passes the messages added since the stored `historyId`
(`users.history.list`, historyTypes=messageAdded); a history id Gmail no longer keeps (HTTP 404) starts over with a
full listing, which Message-ID dedupe makes harmless. Each message is fetched with `format=raw` and parsed like IMAP
mail. The cursor is `{"history_id": str}`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date
from typing import Any

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from capture.imap import BATCH, FetchedMail

SCOPES = ["https://www.googleapis.com/auth/gmail.readonly"]
FOLDER = "gmail"
SKIP_LABELS = {"SPAM", "TRASH", "DRAFT", "CHAT"}


def service(settings: dict[str, Any], refresh_token: str) -> Any:
    credentials = Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=settings["token_uri"],
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        scopes=SCOPES,
    )
    return build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": settings["api_endpoint"]},
        num_retries=2,
    )


def profile_address(settings: dict[str, Any], refresh_token: str) -> str:
    """The mailbox's own address (checks the token and the API on connect)."""
    return str(service(settings, refresh_token).users().getProfile(userId="me").execute()["emailAddress"]).lower()


def _pages(request_for: Any, key: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = request_for(token).execute()
        yield from page.get(key, [])
        token = page.get("nextPageToken")
        if not token:
            return


def _listed(api: Any, since: date | None) -> list[str]:
    query = f"after:{since:%Y/%m/%d}" if since else None
    messages = api.users().messages()
    return [m["id"] for m in _pages(lambda t: messages.list(userId="me", q=query, pageToken=t), "messages")]


def _added_since(api: Any, history_id: str) -> list[str]:
    history = api.users().history()
    ids: dict[str, None] = {}
    pages = _pages(
        lambda t: history.list(userId="me", startHistoryId=history_id, historyTypes="messageAdded", pageToken=t),
        "history",
    )
    for record in pages:
        for added in record.get("messagesAdded", []):
            message = added.get("message", {})
            if not SKIP_LABELS & set(message.get("labelIds", [])):
                ids.setdefault(message["id"], None)
    return list(ids)


def fetch_new(
    settings: dict[str, Any],
    refresh_token: str,
    cursor: dict[str, Any],
    *,
    since: date | None = None,
    batch: int = BATCH,
) -> Iterator[tuple[str, dict[str, Any], list[FetchedMail]]]:
    """Yield (FOLDER, the cursor after this batch, the batch); the cursor moves to the new historyId at the end."""
    api = service(settings, refresh_token)
    latest = str(api.users().getProfile(userId="me").execute()["historyId"])
    start = cursor.get("history_id")
    ids: list[str]
    if start:
        try:
            ids = _added_since(api, str(start))
        except HttpError as exc:
            if exc.resp.status != 404:
                raise
            ids = _listed(api, since)  # Gmail no longer keeps that history: list again
    else:
        ids = _listed(api, since)
    messages = api.users().messages()
    for first in range(0, len(ids), batch):
        chunk = ids[first : first + batch]
        fetched = []
        for message_id in chunk:
            try:
                found = messages.get(userId="me", id=message_id, format="raw").execute()
            except HttpError as exc:
                if exc.resp.status == 404:  # deleted since it was listed
                    continue
                raise
            if SKIP_LABELS & set(found.get("labelIds", [])):
                continue
            raw = base64.urlsafe_b64decode(found["raw"] + "=" * (-len(found["raw"]) % 4))
            fetched.append(FetchedMail(f"{FOLDER}:{message_id}"[:200], 0, raw, False))
        last = first + batch >= len(ids)
        yield FOLDER, {"history_id": latest if last else (start or "")}, fetched
    if not ids:
        yield FOLDER, {"history_id": latest}, []
