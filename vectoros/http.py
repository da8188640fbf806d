"""Typed requests and the decorator that resolves the workspace once per request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from tenancy.access import get_membership_for_user, require_write
from tenancy.scope import Scope

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails

    from tenancy.models import ApiKey, Membership, Workspace


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


class WorkspaceRequest(AuthenticatedHttpRequest):
    """A request inside a workspace: `/w/<slug>/...`. `workspace`, `membership` and `scope` are resolved once."""

    workspace: Workspace
    membership: Membership
    scope: Scope


ViewFunc = Callable[..., HttpResponseBase]  # pages and streamed downloads (CSV exports) alike


def workspace_view(*, write: bool = False, own: bool = False) -> Callable[[ViewFunc], ViewFunc]:
    """Resolve `slug` to the signed-in user's membership (404 for outsiders); 403 viewers on writes.

    With `write=True` every request is a write; otherwise only non-safe methods are. With `own=True` the view
    changes only the member's own things (their notifications, their preferences), which viewers may do too.
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = get_membership_for_user(user=request.user, slug=slug)
            typed: WorkspaceRequest = request  # type: ignore[assignment]
            typed.membership = membership
            typed.workspace = membership.workspace
            typed.scope = Scope.for_member(membership)
            # The home page reopens the workspace used last.
            if request.session.get("workspace_slug") != slug:
                request.session["workspace_slug"] = slug
            if not own and (write or request.method not in {"GET", "HEAD", "OPTIONS"}):
                require_write(membership)
            return view(typed, *args, **kwargs)

        return wrapper

    return decorator


def api_scope(request: HttpRequest) -> Scope:
    """What an authenticated API request may see (attached by `vectoros.api.ApiKeyAuth`)."""
    return request.scope  # type: ignore[attr-defined,no-any-return]  # set by ApiKeyAuth.authenticate


def render_screen(
    request: WorkspaceRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """The whole page, or under HTMX only its named partial (`template#partial`)."""
    name = f"{template}#{partial}" if partial and request.htmx and not request.htmx.boosted else template
    return render(request, name, context, status=status)


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter when it points inside this site, else `fallback`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return fallback


class ApiRequest(HttpRequest):
    """A REST API request once `vectoros.api.ApiKeyAuth` accepted its bearer key: `auth` is that ApiKey."""

    auth: ApiKey
