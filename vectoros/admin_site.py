"""The Django admin behind allauth's sign-in (its MFA and rate limits apply) and open only to staff with MFA.

The admin's own login form would skip allauth's second factor and its counters, so `admin_login` sends people to
allauth's sign-in instead; staff without an authenticator get a page telling them to set one up.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.admin import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def staff_with_mfa(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and is_mfa_enabled(user))


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("account_login"))
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied
    if not is_mfa_enabled(request.user):
        return render(request, "admin/mfa_required.html", status=403)
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(wanted if wanted and safe else reverse("admin:index"))


def secure_admin_site(site: AdminSite) -> None:
    site.login = admin_login  # type: ignore[method-assign]  # the site is Django's default instance
    site.has_permission = staff_with_mfa  # type: ignore[method-assign]
