"""The installable app: the manifest, the root-scoped service worker with its offline shell and push handler."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse


def test_manifest_describes_an_installable_app(db):
    response = Client().get("/manifest.webmanifest")
    assert response.status_code == 200 and response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["name"] == "VectorOS" and manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert Client().get(icon["src"]).status_code == 200


def test_the_service_worker_is_served_at_the_root_with_push_and_an_offline_shell(db):
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    script = response.content.decode()
    for event in ("install", "fetch", "push", "notificationclick"):
        assert f'addEventListener("{event}"' in script
    assert "showNotification" in script and "openWindow" in script
    offline = re.search(r'const OFFLINE_URL = "([^"]+)"', script).group(1)
    page = Client().get(offline)
    assert page.status_code == 200 and "You are offline" in page.content.decode()


def test_pages_register_the_worker_from_a_static_file_without_inline_script(personas):
    html = personas.client_for(personas.rep).get(reverse("collab:my_day", args=["acme"])).content.decode()
    assert re.search(r'<script src="/static/collab/pwa\.js[^"]*" defer>', html)
    inline = [s for s in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) if "nonce" not in s]
    assert inline == []
    settings_page = personas.client_for(personas.viewer).get(reverse("collab:notification_settings", args=["acme"]))
    assert 'id="push-enable"' in settings_page.content.decode()
