"""SSO screens: "Sign in with SSO" (email → the workspace's IdP) and the workspace's SSO settings (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from tenancy import sso
from tenancy.access import require_admin
from tenancy.forms import SSOSettingsForm, SSOSignInForm
from tenancy.models import WorkspaceSSO
from vectoros.forms import apply_service_errors
from vectoros.http import WorkspaceRequest, workspace_view


@require_http_methods(["GET", "POST"])
def sso_sign_in(request: HttpRequest) -> HttpResponse:
    form = SSOSignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace_sso = sso.sso_for_email(form.cleaned_data["email"])
        if workspace_sso is not None:
            return sso.sso_redirect(request, workspace_sso)
        domain = sso.email_domain(form.cleaned_data["email"])
        form.add_error("email", f"No workspace signs in people from {domain} through SSO. Use your password.")
    status = 422 if form.errors else 200
    return render(request, "account/sso_sign_in.html", {"form": form}, status=status)


def _initial(current: WorkspaceSSO | None) -> dict[str, object]:
    if current is None:
        return {}
    app = current.social_app
    idp = app.settings.get("idp", {})
    return {
        "protocol": app.provider,
        "domains": ", ".join(d.domain for d in current.workspace.sso_domains.all()),
        "jit_role": current.jit_role,
        "require_sso": current.require_sso,
        "issuer": app.settings.get("server_url", ""),
        "client_id": app.client_id if app.provider == sso.OIDC else "",
        "metadata_url": idp.get("metadata_url", ""),
        "entity_id": idp.get("entity_id", ""),
    }


@require_http_methods(["GET", "POST"])
@workspace_view()
def sso_settings(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    ws = request.workspace
    current = WorkspaceSSO.objects.select_related("social_app", "workspace").filter(workspace=ws).first()
    form = SSOSettingsForm(request.POST or None, request.FILES or None, initial=_initial(current))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        rules = {"domains": form.domain_list(), "jit_role": data["jit_role"], "require_sso": data["require_sso"]}
        try:
            if data["protocol"] == sso.OIDC:
                sso.sso_configure_oidc(
                    workspace=ws,
                    issuer=data["issuer"],
                    client_id=data["client_id"],
                    client_secret=data["client_secret"],
                    **rules,
                )
            else:
                sso.sso_configure_saml(
                    workspace=ws,
                    metadata_url=data["metadata_url"] if not data["metadata_file"] else "",
                    metadata_xml=data["metadata_file"],
                    entity_id=data["entity_id"],
                    **rules,
                )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Single sign-on saved.")
            return redirect("tenancy:sso", ws.slug)
    context = {
        "form": form,
        "sso": current,
        "tab": "sso",
        "can_administer": True,
        # What the IdP's administrator registers on their side.
        "sp_metadata_url": request.build_absolute_uri(reverse("saml_metadata", args=[ws.slug])),
        "oidc_callback_url": request.build_absolute_uri(reverse("openid_connect_callback", args=[ws.slug])),
    }
    return render(request, "tenancy/sso.html", context, status=422 if form.errors else 200)


@require_POST
@workspace_view()
def sso_delete(request: WorkspaceRequest) -> HttpResponse:
    require_admin(request.membership)
    sso.sso_remove(workspace=request.workspace)
    messages.success(request, "Single sign-on removed: members sign in with their passwords again.")
    return redirect("tenancy:sso", request.workspace.slug)
