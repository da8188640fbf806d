"""The OAuth 2.0 side of the local Google and Microsoft servers, as documented (RFC 6749 + RFC 7636):
GET /authorize answers at once as a consenting user would (302 to redirect_uri with a code and the state),
POST /token trades a code (checking redirect_uri and the PKCE verifier against the S256 challenge) or a refresh
token for an access token. Access tokens can be expired and refresh tokens revoked, as a provider does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class AuthServer:
    client_id: str
    refresh_token: str  # the one live refresh token (rotated when `rotate`)
    client_secret: str = "test-secret"
    rotate: bool = False
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code → (redirect_uri, challenge, scope)
    access_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    refreshes: int = 0
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far now gets 401 (expired early, revoked by the tenant)."""
        with self.lock:
            self.access_tokens.clear()

    def revoke(self) -> None:
        """The user withdrew the app's access: the refresh token is refused from now on."""
        with self.lock:
            self.refresh_token = f"revoked-{secrets.token_hex(4)}"
            self.access_tokens.clear()

    def authorized(self, header: str | None) -> bool:
        with self.lock:
            return bool(header) and header.removeprefix("Bearer ") in self.access_tokens

    def _issue(self) -> str:
        self.issued += 1
        token = f"at-{self.issued}-{secrets.token_hex(4)}"
        self.access_tokens.add(token)
        return token

    def authorize(self, path: str) -> tuple[int, dict[str, str]]:
        """(status, headers) for GET /authorize?..."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        self.authorize_requests.append(query)
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect:
            return 400, {}
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            error = urlencode({"error": "invalid_request", "state": query.get("state", "")})
            return 302, {"Location": f"{redirect}?{error}"}
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = (redirect, query.get("code_challenge", ""), query.get("scope", ""))
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, 'state': query.get('state', '')})}"}

    def answer_authorize(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer GET /authorize on `handler` (an empty 302, or 400 for an unknown client)."""
        status, headers = self.authorize(handler.path)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        """(status, JSON body) for POST /token."""
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client", "error_description": "Unknown client."}
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                found = self.codes.pop(form.get("code", ""), None)  # a code is good once
                if found is None or found[0] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "Bad or used authorization code."}
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if digest != found[1]:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed."}
                self.refresh_token = f"rt-{secrets.token_hex(6)}"
                return 200, self._grant(found[2])
            if form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                self.refreshes += 1
                if self.rotate:
                    self.refresh_token = f"rt-{secrets.token_hex(6)}"
                return 200, self._grant(form.get("scope", ""))
        return 400, {"error": "unsupported_grant_type"}

    def _grant(self, scope: str) -> dict:
        return {
            "access_token": self._issue(),
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": scope,
            "refresh_token": self.refresh_token,
        }
