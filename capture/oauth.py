"""OAuth for Gmail / Google Calendar and Microsoft 365 (mail and calendar): the authorization-code web flow with
state and PKCE (RFC 7636, S256), the code exchange, and the stored token set.

Plain module (no Django). What a connection stores in its encrypted `secret` is `dump(tokens)`: a JSON object with
the refresh token, the last access token and its expiry, so a pass reuses a live access token and refreshes it only
when it expired or the API answered 401. A secret that is not JSON is a bare refresh token (connections made on the
command line).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

GOOGLE, MICROSOFT = "google", "microsoft"
MAIL, CALENDAR = "mail", "calendar"
SCOPES = {
    (GOOGLE, MAIL): ["https://www.googleapis.com/auth/gmail.readonly"],
    (GOOGLE, CALENDAR): ["https://www.googleapis.com/auth/calendar.readonly"],
    (MICROSOFT, MAIL): [
        "https://graph.microsoft.com/Mail.Read",
        "https://graph.microsoft.com/User.Read",
        "offline_access",
    ],
    (MICROSOFT, CALENDAR): [
        "https://graph.microsoft.com/Calendars.Read",
        "https://graph.microsoft.com/User.Read",
        "offline_access",
    ],
}


class OAuthError(Exception):
    """The provider refused (the code, the refresh token): its reason, for the member to read."""


@dataclass
class Tokens:
    refresh_token: str
    access_token: str = ""
    expires_at: float = 0.0  # epoch seconds; 0 = unknown (refresh before use)

    @property
    def live(self) -> bool:
        return bool(self.access_token) and self.expires_at > time.time() + 60


def load(secret: str) -> Tokens:
    text = (secret or "").strip()
    if text.startswith("{"):
        data = json.loads(text)
        return Tokens(
            str(data.get("refresh_token", "")), str(data.get("access_token", "")), float(data.get("expires_at", 0))
        )
    return Tokens(text)


def dump(tokens: Tokens) -> str:
    return json.dumps(
        {"refresh_token": tokens.refresh_token, "access_token": tokens.access_token, "expires_at": tokens.expires_at}
    )


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(
    *, provider: str, authorize: str, client_id: str, redirect_uri: str, scopes: list[str], state: str, challenge: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if provider == GOOGLE:
        params |= {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    else:
        params |= {"response_mode": "query", "prompt": "select_account"}
    return f"{authorize}?{urlencode(params)}"


def _token_call(token_uri: str, form: dict[str, str]) -> dict[str, Any]:
    try:
        response = httpx.post(token_uri, data=form, headers={"Accept": "application/json"}, timeout=30)
    except httpx.HTTPError as exc:
        raise OAuthError(f"cannot reach the token endpoint: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        raise OAuthError(str(body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"))
    return dict(body)


def exchange_code(
    *, token_uri: str, client_id: str, client_secret: str, code: str, redirect_uri: str, verifier: str
) -> Tokens:
    """The authorization code (and the PKCE verifier) for a token set; a grant without a refresh token is refused
    (capture reads in the background, long after the access token expired)."""
    body = _token_call(
        token_uri,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
            "code_verifier": verifier,
        },
    )
    if not body.get("refresh_token"):
        raise OAuthError("the provider granted no refresh token (offline access); connect again and allow it")
    expires_at = time.time() + int(body.get("expires_in", 3600))
    return Tokens(str(body["refresh_token"]), str(body["access_token"]), expires_at)


def refresh(*, token_uri: str, client_id: str, client_secret: str, tokens: Tokens, scopes: list[str]) -> Tokens:
    """A new access token (and the rotated refresh token, when the provider rotates it)."""
    body = _token_call(
        token_uri,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": " ".join(scopes),
        },
    )
    return Tokens(
        str(body.get("refresh_token") or tokens.refresh_token),
        str(body["access_token"]),
        time.time() + int(body.get("expires_in", 3600)),
    )


LABELS = {GOOGLE: "Google", MICROSOFT: "Microsoft 365"}
