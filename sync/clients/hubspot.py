"""HubSpot CRM v3: objects list/search/batch-read with `paging.next.after`, owners, pipelines, PATCH.

Bearer token (a private-app token, or an OAuth access token). 429 answers wait `Retry-After` (or back off
doubling) and try again; 401 is AuthBroken (a private-app token cannot be refreshed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from sync.clients import AuthBroken, Backoff, CrmError, RateLimited, retry_after_seconds


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message", body))[:300] if isinstance(body, dict) else str(body)[:300]


class HubSpotClient:
    def __init__(self, *, base_url: str, access_token: str, backoff: Backoff | None = None, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.backoff = backoff or Backoff()
        self.http = httpx.Client(timeout=timeout)
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
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
