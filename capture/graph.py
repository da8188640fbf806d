"""Reading mail through Microsoft Graph (the msgraph-sdk client) with delta queries, per well-known folder.

Plain module (no Django). Auth is a delegated OAuth refresh token (scopes Mail.Read offline_access) exchanged at the
Microsoft identity platform's v2.0 token endpoint; Microsoft may rotate the refresh token, and the new one is handed
to `on_refresh_token` so the caller stores it. Each folder's cursor is its `@odata.deltaLink`
(`{folder: {"delta_link": url}}`); the first pass keeps only messages received since the look-back day. Messages
are read as MIME (`GET /me/messages/{id}/$value`) and parsed like IMAP mail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from capture import oauth
from capture.imap import BATCH, FetchedMail

FOLDERS = ("inbox", "sentitems")
SCOPES = oauth.SCOPES[(oauth.MICROSOFT, oauth.MAIL)]
T = TypeVar("T")


class GraphAuthError(Exception):
    """Microsoft refused to renew access (the refresh token was revoked or expired): the member must reconnect."""


class RefreshTokenCredential:
    """An azure-core style credential over a stored token set: the access token while it lives, else a refresh
    (keeping the rotated refresh token); `invalidate` after a 401 forces the next call to refresh."""

    def __init__(self, settings: dict[str, Any], secret: str, scopes: list[str] | None = None) -> None:
        self.settings, self.tokens = settings, oauth.load(secret)
        self.scopes = scopes or SCOPES

    @property
    def secret(self) -> str:
        return oauth.dump(self.tokens)

    @property
    def refresh_token(self) -> str:
        return self.tokens.refresh_token

    def invalidate(self) -> None:
        self.tokens.access_token = ""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if not self.tokens.live:
            try:
                self.tokens = oauth.refresh(
                    token_uri=self.settings["token_uri"],
                    client_id=self.settings["client_id"],
                    client_secret=self.settings["client_secret"],
                    tokens=self.tokens,
                    scopes=self.scopes,
                )
            except oauth.OAuthError as exc:
                raise GraphAuthError(str(exc)) from None
        return AccessToken(self.tokens.access_token, int(self.tokens.expires_at))


def call(credential: RefreshTokenCredential, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one Graph call; a 401 (the access token was revoked or expired early) refreshes once and retries."""
    try:
        return asyncio.run(make())
    except APIError as exc:
        if exc.response_status_code != 401:
            raise
    credential.invalidate()
    return asyncio.run(make())


def client_for(settings: dict[str, Any], credential: RefreshTokenCredential) -> GraphServiceClient:
    host = urlsplit(settings["api_base"]).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES, allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = settings["api_base"].rstrip("/")
    return GraphServiceClient(request_adapter=adapter)


def profile_address(settings: dict[str, Any], secret: str, scopes: list[str] | None = None) -> tuple[str, str]:
    """(the account's address, the token set to store: Microsoft may have rotated the refresh token on this use)."""
    credential = RefreshTokenCredential(settings, secret, scopes)

    async def read() -> str:
        me = await client_for(settings, credential).me.get()
        return str((me.mail or me.user_principal_name or "") if me else "").lower()

    return call(credential, read), credential.secret


async def _delta(
    settings: dict[str, Any], credential: RefreshTokenCredential, folder: str, link: str | None, since: date | None
) -> tuple[list[str], str]:
    """(ids of messages added or changed since `link`, the new delta link)."""
    client = client_for(settings, credential)  # one per call: its HTTP pool is bound to this event loop
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


async def _contents(
    settings: dict[str, Any], credential: RefreshTokenCredential, ids: list[str]
) -> list[tuple[str, bytes]]:
    client = client_for(settings, credential)
    found = []
    for message_id in ids:
        raw = await client.me.messages.by_message_id(message_id).content.get()
        if raw:
            found.append((message_id, raw))
    return found


def fetch_new(
    settings: dict[str, Any],
    secret: str,
    cursor: dict[str, dict[str, Any]],
    *,
    since: date | None = None,
    on_refresh_token: Callable[[str], None] | None = None,
    batch: int = BATCH,
) -> Iterator[tuple[str, dict[str, Any], list[FetchedMail]]]:
    """`on_refresh_token` receives the token set to store (a new access token, a rotated refresh token)."""
    credential = RefreshTokenCredential(settings, secret)
    try:
        for folder in FOLDERS:
            link = (cursor.get(folder) or {}).get("delta_link") or None
            ids, new_link = call(credential, partial(_delta, settings, credential, folder, link, since))
            for first in range(0, len(ids), batch):
                chunk = ids[first : first + batch]
                raws = call(credential, partial(_contents, settings, credential, chunk))
                done = first + batch >= len(ids)
                mails = [FetchedMail(f"{folder}:{i}"[:200], 0, raw, False) for i, raw in raws]
                yield folder, {"delta_link": new_link if done else (link or "")}, mails
            if not ids:
                yield folder, {"delta_link": new_link}, []
    finally:
        if on_refresh_token is not None and credential.secret != secret:
            on_refresh_token(credential.secret)
