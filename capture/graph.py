"""Reading mail through Microsoft Graph (the msgraph-sdk client) with delta queries, per well-known folder.

Plain module (no Django). Auth is a delegated OAuth refresh token (scopes Mail.Read offline_access) exchanged at the
Microsoft identity platform's v2.0 token endpoint; Microsoft may rotate the refresh token, and the new one is handed
to `on_refresh_token` so the caller stores it. Each folder's cursor is its `@odata.deltaLink`
(`{folder: {"delta_link": url}}`); the first pass keeps only messages received since the look-back day. Messages
are read as MIME (`GET /me/messages/{id}/$value`) and parsed like IMAP mail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from capture.imap import BATCH, FetchedMail

FOLDERS = ("inbox", "sentitems")
SCOPES = ["https://graph.microsoft.com/Mail.Read", "offline_access"]


class GraphAuthError(Exception):
    pass


class RefreshTokenCredential:
    """An azure-core style credential that trades a refresh token for access tokens (and keeps the rotated one)."""

    def __init__(self, settings: dict[str, Any], refresh_token: str) -> None:
        self.settings, self.refresh_token = settings, refresh_token
        self._token: AccessToken | None = None

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._token is not None and self._token.expires_on > time.time() + 60:
            return self._token
        response = httpx.post(
            self.settings["token_uri"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "client_id": self.settings["client_id"],
                "client_secret": self.settings["client_secret"],
                "scope": " ".join(SCOPES),
            },
            timeout=30,
        )
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or "access_token" not in body:
            raise GraphAuthError(body.get("error_description") or body.get("error") or f"HTTP {response.status_code}")
        self.refresh_token = body.get("refresh_token") or self.refresh_token
        self._token = AccessToken(body["access_token"], int(time.time()) + int(body.get("expires_in", 3600)))
        return self._token


def _client(settings: dict[str, Any], credential: RefreshTokenCredential) -> GraphServiceClient:
    host = urlsplit(settings["api_base"]).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES, allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = settings["api_base"].rstrip("/")
    return GraphServiceClient(request_adapter=adapter)


def profile_address(settings: dict[str, Any], refresh_token: str) -> tuple[str, str]:
    """(the mailbox's address, the refresh token to store: Microsoft may have rotated it on this first use)."""
    credential = RefreshTokenCredential(settings, refresh_token)

    async def read() -> str:
        me = await _client(settings, credential).me.get()
        return str((me.mail or me.user_principal_name or "") if me else "").lower()

    return asyncio.run(read()), credential.refresh_token


async def _delta(
    client: GraphServiceClient, folder: str, link: str | None, since: date | None
) -> tuple[list[str], str]:
    """(ids of messages added or changed since `link`, the new delta link)."""
    builder = client.me.mail_folders.by_mail_folder_id(folder).messages.delta
    config = RequestConfiguration(
        query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=["receivedDateTime"])
    )
    page = await (builder.with_url(link).get() if link else builder.get(request_configuration=config))
    after = datetime.combine(since, datetime.min.time(), tzinfo=UTC) if since and not link else None
    ids: list[str] = []
    while page is not None:
        for message in page.value or []:
            if not message.id or "@removed" in (message.additional_data or {}):
                continue
            if after is None or message.received_date_time is None or message.received_date_time >= after:
                ids.append(message.id)
        if page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
            continue
        return ids, str(page.odata_delta_link or "")
    return ids, link or ""


async def _contents(client: GraphServiceClient, ids: list[str]) -> list[tuple[str, bytes]]:
    found = []
    for message_id in ids:
        raw = await client.me.messages.by_message_id(message_id).content.get()
        if raw:
            found.append((message_id, raw))
    return found


def fetch_new(
    settings: dict[str, Any],
    refresh_token: str,
    cursor: dict[str, dict[str, Any]],
    *,
    since: date | None = None,
    on_refresh_token: Callable[[str], None] | None = None,
    batch: int = BATCH,
) -> Iterator[tuple[str, dict[str, Any], list[FetchedMail]]]:
    credential = RefreshTokenCredential(settings, refresh_token)
    try:
        for folder in FOLDERS:
            link = (cursor.get(folder) or {}).get("delta_link") or None
            ids, new_link = asyncio.run(_delta(_client(settings, credential), folder, link, since))
            for first in range(0, len(ids), batch):
                chunk = ids[first : first + batch]
                raws = asyncio.run(_contents(_client(settings, credential), chunk))
                done = first + batch >= len(ids)
                mails = [FetchedMail(f"{folder}:{i}"[:200], 0, raw, False) for i, raw in raws]
                yield folder, {"delta_link": new_link if done else (link or "")}, mails
            if not ids:
                yield folder, {"delta_link": new_link}, []
    finally:
        if on_refresh_token is not None and credential.refresh_token != refresh_token:
            on_refresh_token(credential.refresh_token)
