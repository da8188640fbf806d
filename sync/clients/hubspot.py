"""HubSpot CRM v3: objects list/search/batch-read with `paging.next.after`, owners, pipelines, PATCH.

Bearer token: a private-app token, or an OAuth access token with its refresh token. An OAuth token is refreshed
at `{base-url}/oauth/v1/token` when it is about to expire or on a 401 (once per call, then the call is repeated); a
refused refresh (400, `invalid_grant` / `BAD_REFRESH_TOKEN`) is AuthBroken, and so is a 401 for a private-app token,
which cannot be refreshed. 429 answers wait `Retry-After` (or back off doubling) and try again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from sync.clients import AuthBroken, Backoff, CrmError, RateLimited, retry_after_seconds


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    text = body.get("message") or body.get("error_description") or body
    code = body.get("error") or body.get("status")
    return (f"{code}: {text}" if code and code != "error" else str(text))[:300]


TokenSaver = Callable[[str, str, float], None]  # (access token, refresh token, expires at as epoch seconds)
EARLY = 60.0  # seconds before the stated expiry at which a token is renewed


def token_endpoint(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/oauth/v1/token"


def _token_answer(response: httpx.Response, what: str) -> dict[str, Any]:
    """The token endpoint's answer, or AuthBroken for a refused grant (HubSpot answers 400 for a bad code, a revoked
    refresh token or a wrong client) and CrmError for anything else."""
    if response.status_code in (400, 401, 403):
        raise AuthBroken(f"HubSpot refused the {what} ({_message(response)}); reconnect the CRM")
    if response.status_code != 200:
        raise CrmError(f"HubSpot token endpoint answered {response.status_code}: {_message(response)}")
    body: dict[str, Any] = response.json()
    if not body.get("access_token"):
        raise CrmError("HubSpot token endpoint gave no access token")
    return body


class HubSpotClient:
    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        client_id: str = "",
        client_secret: str = "",
        refresh_token: str = "",
        expires_at: float = 0.0,
        on_token: TokenSaver | None = None,
        backoff: Backoff | None = None,
        timeout: float = 60.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.expires_at = expires_at  # 0: unknown (a private-app token, or a stored one: a 401 tells)
        self.on_token = on_token
        self.backoff = backoff or Backoff()
        self.http = httpx.Client(timeout=timeout)
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    @property
    def refreshable(self) -> bool:
        return bool(self.refresh_token)

    def refresh(self) -> None:
        """A new access token from the refresh token (OAuth apps only)."""
        data = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        try:
            response = self.http.post(token_endpoint(self.base_url), data=data)
        except httpx.HTTPError as exc:
            raise CrmError(f"HubSpot token endpoint unreachable: {exc}") from exc
        body = _token_answer(response, "refresh token")
        self.access_token = str(body["access_token"])
        self.refresh_token = str(body.get("refresh_token") or self.refresh_token)
        self.expires_at = time.time() + float(body.get("expires_in") or 0) if body.get("expires_in") else 0.0
        if self.on_token is not None:
            self.on_token(self.access_token, self.refresh_token, self.expires_at)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.refreshable and (not self.access_token or (self.expires_at and time.time() >= self.expires_at - EARLY)):
            self.refresh()
        refreshed = False
        attempt = 0
        while True:
            self.calls += 1
            try:
                response = self.http.request(
                    method,
                    f"{self.base_url}{path}",
                    headers={"Authorization": f"Bearer {self.access_token}"},
                    **kwargs,
                )
            except httpx.TransportError as exc:
                if attempt >= self.backoff.attempts:
                    raise CrmError(f"HubSpot unreachable: {exc}") from exc
                self.backoff.wait(attempt)
                attempt += 1
                continue
            if response.status_code == 401 and self.refreshable and not refreshed:
                self.refresh()  # the access token expired (or was revoked early): once per call
                refreshed = True
                continue
            if response.status_code == 401:
                raise AuthBroken(f"HubSpot refused the token ({_message(response)}); reconnect the CRM")
            if response.status_code == 429 or response.status_code >= 500:
                if attempt >= self.backoff.attempts:
                    kind = RateLimited if response.status_code == 429 else CrmError
                    raise kind(f"HubSpot answered {response.status_code} after {attempt} retries")
                self.backoff.wait(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                attempt += 1
                continue
            return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise CrmError(f"{method} {path.split('?')[0]} failed ({response.status_code}): {_message(response)}")
        body: dict[str, Any] = response.json()
        return body

    def list_pages(self, path: str, params: dict[str, Any], *, after: str | None = None) -> Iterator[tuple[list, str]]:
        """(results, the `after` cursor of the next page or "") for every page of a list endpoint."""
        while True:
            query = {**params, **({"after": after} if after else {})}
            body = self._json("GET", path, params=query)
            after = ((body.get("paging") or {}).get("next") or {}).get("after") or ""
            yield body.get("results", []), after
            if not after:
                return

    def search_pages(
        self, object_type: str, body: dict[str, Any], *, after: str | None = None
    ) -> Iterator[tuple[list, str]]:
        """Pages of a search. Without a search endpoint (404/405), the list is read and filtered here on the
        search's GT/GTE filters and sorted the same way: slower, same answer."""
        while True:
            payload = {**body, **({"after": after} if after else {})}
            response = self.request("POST", f"/crm/v3/objects/{object_type}/search", json=payload)
            if response.status_code in (404, 405) and not after:
                yield self._search_by_listing(object_type, body), ""
                return
            if response.status_code >= 400:
                raise CrmError(f"search of {object_type} failed ({response.status_code}): {_message(response)}")
            answer = response.json()
            after = ((answer.get("paging") or {}).get("next") or {}).get("after") or ""
            yield answer.get("results", []), after
            if not after:
                return

    def _search_by_listing(self, object_type: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        params = {"limit": 100, "properties": ",".join(body.get("properties", []))}
        rows = [r for page, _a in self.list_pages(f"/crm/v3/objects/{object_type}", params) for r in page]
        for group in body.get("filterGroups", []):
            for f in group.get("filters", []):
                floor = _millis(f["value"])
                strict = f["operator"] == "GT"
                rows = [
                    r
                    for r in rows
                    if (v := r["properties"].get(f["propertyName"]))
                    and (_millis(v) > floor if strict else _millis(v) >= floor)
                ]
        for sort in reversed(body.get("sorts", [])):
            name = str(sort["propertyName"])

            def key(row: dict[str, Any], name: str = name) -> tuple[int, int]:
                return _millis(row["properties"].get(name) or 0), int(row["id"])

            rows.sort(key=key)
        return rows

    def batch_read(self, object_type: str, ids: list[str], properties: list[str], with_history: list[str]) -> list:
        """The objects with these ids (and their property history). Where batch read is missing (some sandboxes and
        stand-ins answer 404/405), the list endpoint is read instead and filtered: slower, same answer."""
        body = {"inputs": [{"id": i} for i in ids], "properties": properties, "propertiesWithHistory": with_history}
        response = self.request("POST", f"/crm/v3/objects/{object_type}/batch/read", json=body)
        if response.status_code in (404, 405):
            wanted = set(ids)
            params = {"limit": 50, "properties": ",".join(properties), "propertiesWithHistory": ",".join(with_history)}
            found = [r for page, _a in self.list_pages(f"/crm/v3/objects/{object_type}", params) for r in page]
            return [r for r in found if str(r["id"]) in wanted]
        if response.status_code >= 400:
            raise CrmError(f"batch read of {object_type} failed ({response.status_code}): {_message(response)}")
        return list(response.json().get("results", []))

    def pipelines(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/crm/v3/pipelines/deals").get("results", []))

    def update(self, object_type: str, record_id: str, properties: dict[str, Any]) -> None:
        self._json("PATCH", f"/crm/v3/objects/{object_type}/{record_id}", json={"properties": properties})


def _millis(value: Any) -> int:
    """A HubSpot time (epoch milliseconds, or ISO 8601) as epoch milliseconds."""
    text = str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def authorize_url(*, authorize: str, client_id: str, redirect_uri: str, scope: str, state: str) -> str:
    """Where the admin's browser goes to install our HubSpot app (OAuth 2.0 authorization code flow)."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "state": state})
    return f"{authorize}?{query}"


def exchange_code(*, base_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str) -> dict[str, Any]:
    """The authorization code for tokens: {"access_token", "refresh_token", "expires_in", ...}."""
    data = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "code": code,
    }
    try:
        response = httpx.post(token_endpoint(base_url), data=data, timeout=30)
    except httpx.HTTPError as exc:
        raise CrmError(f"HubSpot token endpoint unreachable: {exc}") from exc
    body = _token_answer(response, "authorization code")
    if not body.get("refresh_token"):
        raise AuthBroken("HubSpot gave no refresh token for the authorization code")
    return body
