"""Reading mail through the Gmail API (google-api-python-client, OAuth refresh token), incremental by historyId.

Plain module (no Django). The first pass lists the messages received or sent since the look-back day
(`users.messages.list`, `q=after:`), later passes the messages added since the stored `historyId`
(`users.history.list`, historyTypes=messageAdded); a history id Gmail no longer keeps (HTTP 404) starts over with a
full listing, which Message-ID dedupe makes harmless. Each message is fetched with `format=raw` and parsed like IMAP
mail. The cursor is `{"history_id": str}`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from capture import oauth
from capture.imap import BATCH, FetchedMail

SCOPES = oauth.SCOPES[(oauth.GOOGLE, oauth.MAIL)]
FOLDER = "gmail"
SKIP_LABELS = {"SPAM", "TRASH", "DRAFT", "CHAT"}


def credentials_for(settings: dict[str, Any], secret: str, scopes: list[str] | None = None) -> Credentials:
    """google-auth credentials over a stored token set: the access token while it lives; google-auth refreshes it
    when it expired, and the client refreshes and retries once when the API answers 401."""
    tokens = oauth.load(secret)
    expiry = datetime.fromtimestamp(tokens.expires_at, UTC).replace(tzinfo=None) if tokens.access_token else None
    return Credentials(
        token=tokens.access_token or None,
        refresh_token=tokens.refresh_token,
        token_uri=settings["token_uri"],
        client_id=settings["client_id"],
        client_secret=settings["client_secret"],
        scopes=scopes or SCOPES,
        expiry=expiry,
    )


def secret_of(credentials: Credentials) -> str:
    """The token set to store after a run (the access token google-auth may have refreshed meanwhile)."""
    expiry = credentials.expiry.replace(tzinfo=UTC).timestamp() if credentials.expiry else 0.0
    return oauth.dump(oauth.Tokens(str(credentials.refresh_token), str(credentials.token or ""), expiry))


def service(settings: dict[str, Any], secret: str | Credentials) -> Any:
    credentials = secret if isinstance(secret, Credentials) else credentials_for(settings, secret)
    return build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": settings["api_endpoint"]},
        num_retries=2,
    )


def profile_address(settings: dict[str, Any], secret: str) -> str:
    """The mailbox's own address (checks the token and the API on connect)."""
    return str(service(settings, secret).users().getProfile(userId="me").execute()["emailAddress"]).lower()


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
    secret: str,
    cursor: dict[str, Any],
    *,
    since: date | None = None,
    batch: int = BATCH,
    on_tokens: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any], list[FetchedMail]]]:
    """Yield (FOLDER, the cursor after this batch, the batch); the cursor moves to the new historyId at the end.
    `on_tokens` receives the token set to store when the access token was refreshed."""
    credentials = credentials_for(settings, secret)
    try:
        yield from _fetch_new(service(settings, credentials), cursor, since, batch)
    finally:
        if on_tokens is not None and secret_of(credentials) != secret and credentials.token:
            on_tokens(secret_of(credentials))


def _fetch_new(
    api: Any, cursor: dict[str, Any], since: date | None, batch: int
) -> Iterator[tuple[str, dict[str, Any], list[FetchedMail]]]:
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
