from __future__ import annotations

import math
import time
from typing import Any, NoReturn

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal import ratelimit as allauth_ratelimit
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base.constants import AuthProcess
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import redirect

from tenancy import sso
from tenancy.services import invitation_from_next_url, unique_slug, workspace_create
from vectoros.ratelimit import client_ip, too_many_requests


class AccountAdapter(DefaultAccountAdapter):
    """Signing up creates the new user's own workspace, which they own."""

    @transaction.atomic
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            name = user.email.split("@")[0]
            workspace_create(name=f"{name}'s workspace", slug=unique_slug(name), owner_user=user)
        return user

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Open sign-up, or (VECTOROS_SIGNUP=invite-only) only on the way to accepting an open invitation."""
        if settings.VECTOROS_SIGNUP == "open":
            return True
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        return invitation_from_next_url(next_url) is not None

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's limits per address count the real client (TRUSTED_PROXY_COUNT hops), never our proxy.
        return client_ip(request)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """A locked account (or address) gets 429 with Retry-After, not a form error: the password is not tried."""
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError as exc:
            if exc.code == "too_many_login_attempts":
                self._refuse_locked(request, **credentials)
            raise

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        # The wrong password that used up the allowance is already answered 429.
        if self._login_wait(request, **credentials) is not None:
            self._refuse_locked(request, **credentials)

    def _refuse_locked(self, request: HttpRequest, **credentials: Any) -> NoReturn:
        wait = self._login_wait(request, **credentials) or 60
        message = f"Too many failed sign-ins. Try again in {math.ceil(wait / 60)} minute(s)."
        raise ImmediateHttpResponse(too_many_requests(request, wait, message))

    def _login_wait(self, request: HttpRequest, **credentials: Any) -> int | None:
        """Seconds until the next sign-in attempt is counted again, or None while attempts are left."""
        key = self._get_login_attempts_cache_key(request, **credentials)
        now, waits = time.time(), []
        for rate in allauth_ratelimit.get_rates(app="allauth.account", action="login_failed"):
            cache_key = allauth_ratelimit.get_cache_key(
                request, app="allauth.account", action="login_failed", rate=rate, key=key
            )
            history = [t for t in cache.get(cache_key, []) if t > now - rate.duration]
            if len(history) >= rate.amount:
                waits.append(min(history) + rate.duration - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def authenticate(self, request, **credentials):
        """A right password is still refused for a non-owner of a workspace that requires SSO."""
        user = super().authenticate(request, **credentials)
        if user is not None and (refusing := sso.workspaces_refusing_password(user)):
            names = ", ".join(ws.name for ws in refusing)
            raise forms.ValidationError(
                f"{names} requires single sign-on: use “Sign in with SSO” with your work email.", code="sso_required"
            )
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Sign-in through a workspace's IdP: its email counts as verified only inside the workspace's verified domains,
    anyone else is turned away, and a first sign-in from a verified domain makes a membership (JIT)."""

    def list_apps(self, request, provider=None, client_id=None):
        """allauth's apps, each workspace's OIDC client secret decrypted into the in-memory app only."""
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        secrets = sso.sso_client_secrets([app.pk for app in apps if app.pk is not None])
        for app in apps:
            if app.pk in secrets:
                app.secret = secrets[app.pk]
        return apps

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        workspace_sso = sso.sso_for_app(sociallogin.provider.app)
        for address in sociallogin.email_addresses:
            # Whatever the IdP claims, an address is verified only where this workspace owns the domain.
            address.verified = workspace_sso is not None and sso.email_in_verified_domain(
                sso=workspace_sso, email=address.email
            )
        return user

    def pre_social_login(self, request, sociallogin):
        workspace_sso = sso.sso_for_app(sociallogin.provider.app)
        if workspace_sso is None:  # e.g. an app left behind by a deleted workspace: no domain rules, no way in
            _refuse(request, "This single sign-on belongs to no workspace.")
        name = workspace_sso.workspace.name
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            _refuse(request, f"{name}'s single sign-on signs people in; it is not linked to another account.")
        # The address the IdP asserts now (not the one stored on an account found by its IdP identity).
        idp_email = next((a.email for a in sociallogin.email_addresses), "") or sociallogin.user.email or ""
        if not sso.email_in_verified_domain(sso=workspace_sso, email=idp_email):
            outside = idp_email or "your account"
            _refuse(request, f"{name}'s single sign-on is for its own email domains; {outside} is not one of them.")
        if sociallogin.is_existing:
            sso.sso_join(sso=workspace_sso, user=sociallogin.user, email=idp_email)

    @transaction.atomic
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        workspace_sso = sso.sso_for_app(sociallogin.provider.app)
        if workspace_sso is not None:
            sso.sso_join(sso=workspace_sso, user=user, email=user.email)
        return user

    def is_open_for_signup(self, request, sociallogin):
        # A verified-domain person may always join through their workspace's SSO (pre_social_login checked it),
        # even where password sign-up is closed.
        return True


def _refuse(request, message: str) -> NoReturn:
    messages.error(request, message)
    raise ImmediateHttpResponse(redirect("account_login"))
