"""The OAuth apps and API endpoints of Google and Microsoft, read from the settings (the endpoints change only in
tests, which point them at local servers)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from capture import oauth


def provider_settings(provider: str, target: str) -> dict[str, Any]:
    """What the clients need: the API endpoint, the token endpoint and the app's id and secret."""
    if provider == oauth.GOOGLE:
        endpoint = settings.GMAIL_API_ENDPOINT if target == oauth.MAIL else settings.GOOGLE_CALENDAR_API_ENDPOINT
        return {
            "api_endpoint": endpoint,
            "authorize": settings.GOOGLE_AUTHORIZE_URL,
            "token_uri": settings.GOOGLE_TOKEN_URI,
            "client_id": settings.GOOGLE_OAUTH_CLIENT_ID,
            "client_secret": settings.GOOGLE_OAUTH_CLIENT_SECRET,
        }
    return {
        "api_base": settings.MS_GRAPH_API_BASE,
        "authorize": settings.MS_AUTHORIZE_URL,
        "token_uri": settings.MS_TOKEN_URI,
        "client_id": settings.MS_GRAPH_CLIENT_ID,
        "client_secret": settings.MS_GRAPH_CLIENT_SECRET,
    }


def configured(provider: str) -> bool:
    return bool(provider_settings(provider, oauth.MAIL)["client_id"])
