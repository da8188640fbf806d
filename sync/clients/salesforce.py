"""Salesforce REST: OAuth refresh-token grant, SOQL query/queryAll with `nextRecordsUrl` paging, sObject PATCH.

A 401 INVALID_SESSION_ID refreshes the access token once and repeats the call; `invalid_grant` from the token
endpoint is AuthBroken. REQUEST_LIMIT_EXCEEDED (403) and 5xx answers are retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from sync.clients import AuthBroken, Backoff, CrmError, RateLimited, retry_after_seconds

API_VERSION = "v59.0"
TokenSaver = Callable[[str, str], None]  # (access token, instance url)


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", ""))
    if isinstance(body, dict):
        return str(body.get("error", body.get("errorCode", "")))
    return ""


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return f"{body[0].get('errorCode', '')}: {body[0].get('message', '')}"
    if isinstance(body, dict):
        return f"{body.get('error', '')}: {body.get('error_description', body.get('message', ''))}"
    return str(body)[:300]


class SalesforceClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_token: str = "",
        instance_url: str = "",
        on_token: TokenSaver | None = None,
        backoff: Backoff | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.access_token, self.instance_url = access_token, instance_url.rstrip("/")
        self.on_token = on_token
        self.backoff = backoff or Backoff()
        self.http = httpx.Client(timeout=timeout)
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    # --- auth ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """A new access token (and the instance URL to use it on) from the refresh token."""
        data = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        try:
            response = self.http.post(f"{self.base_url}/services/oauth2/token", data=data)
        except httpx.HTTPError as exc:
            raise CrmError(f"token endpoint unreachable: {exc}") from exc
        if response.status_code in (400, 401) and _error_code(response) in {"invalid_grant", "invalid_client"}:
            raise AuthBroken(f"Salesforce refused the refresh token ({_message(response)}); reconnect the CRM")
        if response.status_code != 200:
            raise CrmError(f"token endpoint answered {response.status_code}: {_message(response)}")
        body = response.json()
        self.access_token = body["access_token"]
        self.instance_url = str(body.get("instance_url") or self.instance_url).rstrip("/")
        if self.on_token is not None:
            self.on_token(self.access_token, self.instance_url)

    # --- calls -----------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self.access_token:
            self.refresh()
        refreshed = False
        attempt = 0
        while True:
            url = path if path.startswith("http") else f"{self.instance_url}{path}"
            self.calls += 1
            try:
                response = self.http.request(
                    method, url, headers={"Authorization": f"Bearer {self.access_token}"}, **kwargs
                )
            except httpx.TransportError as exc:
                if attempt >= self.backoff.attempts:
                    raise CrmError(f"Salesforce unreachable: {exc}") from exc
                self.backoff.wait(attempt)
                attempt += 1
                continue
            code = _error_code(response) if response.status_code >= 400 else ""
            if response.status_code == 401 and not refreshed:
                self.refresh()  # INVALID_SESSION_ID: the access token expired; once per call
                refreshed = True
                continue
            if response.status_code == 401:
                raise AuthBroken(f"Salesforce refused a fresh token: {_message(response)}")
            limited = response.status_code == 403 and code == "REQUEST_LIMIT_EXCEEDED"
            if limited or response.status_code == 429 or response.status_code >= 500:
                if attempt >= self.backoff.attempts:
                    raise (RateLimited if limited else CrmError)(
                        f"Salesforce answered {response.status_code} {code} after {attempt} retries"
                    )
                self.backoff.wait(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                attempt += 1
                continue
            return response

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Pages of records (2,000 a page by default), following `nextRecordsUrl`."""
        endpoint = "queryAll" if include_deleted else "query"
        path: str | None = f"/services/data/{API_VERSION}/{endpoint}?q={quote(soql)}"
        while path:
            response = self.request("GET", path)
            if response.status_code != 200:
                raise CrmError(f"query failed ({response.status_code}): {_message(response)}")
            body = response.json()
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in body.get("records", [])]
            path = None if body.get("done", True) else body.get("nextRecordsUrl")

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        response = self.request("PATCH", f"/services/data/{API_VERSION}/sobjects/{sobject}/{record_id}", json=fields)
        if response.status_code not in (200, 204):
            raise CrmError(f"update of {sobject} {record_id} failed ({response.status_code}): {_message(response)}")


def authorize_url(*, base_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the admin's browser goes to approve our connected app (OAuth 2.0 web server flow)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "prompt": "consent",
        }
    )
    return f"{base_url.rstrip('/')}/services/oauth2/authorize?{query}"


def exchange_code(*, base_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str) -> dict[str, Any]:
    """The authorization code for tokens: {"access_token", "refresh_token", "instance_url", ...}."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }
    try:
        response = httpx.post(f"{base_url.rstrip('/')}/services/oauth2/token", data=data, timeout=30)
    except httpx.HTTPError as exc:
        raise CrmError(f"token endpoint unreachable: {exc}") from exc
    if response.status_code != 200:
        raise AuthBroken(f"Salesforce refused the authorization code ({_message(response)})")
    body: dict[str, Any] = response.json()
    if not body.get("refresh_token"):
        raise AuthBroken("Salesforce gave no refresh token: the connected app needs the refresh_token scope")
    return body
