from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path

from capture import views as capture_views
from sync import views as sync_views
from tenancy import views as tenancy_views
from tenancy import views_sso
from vectoros.admin_site import secure_admin_site
from vectoros.api import api, problem

secure_admin_site(admin.site)  # allauth's sign-in (MFA, rate limits) and staff with MFA only


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask /favicon.ico of pages that link none (admin, error pages): send them to the real one."""
    return redirect(static("vectoros/favicon.svg"), permanent=True)


def api_unknown_path(request: HttpRequest) -> HttpResponse:
    """An API path that names no operation (`/api/v1` included): a problem, never an empty redirect or HTML."""
    return problem(404, f"No API operation at {request.path}. The operations are listed at /api/v1/docs.")


workspace_patterns = [
    path("", include("crm.urls")),
    path("data/", include("crm.urls_data")),
    path("forecast/", include("forecasting.urls")),
    path("scoring/", include("scoring.urls")),
    path("similar/", include("similarity.urls")),
    path("alerts/", include("alerts.urls")),
    path("settings/audit/", include("audit.urls")),  # the audit log and erasure (admins)
    path("customers/", include("customers.urls")),
    path("capture/", include("capture.urls")),
    path("insights/", include("insights.urls")),
    path("collab/", include("collab.urls")),
    path("settings/", include("tenancy.urls")),
    path("settings/crm-sync/", include("sync.urls")),
]

urlpatterns = [
    path("", tenancy_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("workspaces/new/", tenancy_views.workspace_new, name="workspace_new"),
    path("accounts/sso/", views_sso.sso_sign_in, name="sso_sign_in"),
    path("accounts/", include("allauth.urls")),
    path("invitations/<str:token>/", tenancy_views.invitation_accept, name="invitation_accept"),
    path("w/<slug:slug>/", include(workspace_patterns)),
    path("api/v1/", api.urls),
    re_path(r"^api/v1(?:/.*)?$", api_unknown_path),
    path("favicon.ico", favicon),
    path("sync/oauth/callback/", sync_views.oauth_callback, name="sync_oauth_callback"),  # one URL for the CRM app
    path("capture/oauth/callback/", capture_views.oauth_callback, name="capture_oauth_callback"),  # mail, calendar
]
urlpatterns += [path("", include("ops.urls"))]  # /health/live, /health/ready, /metrics
urlpatterns += [path("", include("collab.urls_root"))]  # /manifest.webmanifest, /sw.js, /offline/ (the PWA)
handler429 = "vectoros.ratelimit.handler429"  # allauth answers its rate limits with this
