"""Single sign-on per workspace: configuring its identity provider, routing an email to it, just-in-time membership.

Each workspace's IdP is one allauth `SocialApp` (provider `openid_connect` or `saml`, `provider_id` = workspace slug)
linked from `WorkspaceSSO`; its people are recognised by `SSODomain` rows. Every write goes through these functions:
the settings page, `manage.py configure_sso` and the allauth adapters call them.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from allauth.socialaccount.models import SocialApp
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from tenancy.models import Membership, Role, SSODomain, Workspace, WorkspaceSSO
from tenancy.services import membership_add

OIDC = "openid_connect"
SAML = "saml"
JIT_ROLES = (Role.MANAGER, Role.REP, Role.VIEWER)  # SSO never makes an owner or an admin by itself
FETCH_TIMEOUT = 10  # seconds, for an IdP's discovery document or metadata
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def _clean_domains(domains: list[str], workspace: Workspace) -> list[str]:
    cleaned = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
    if not cleaned:
        raise ValidationError({"domains": "Give at least one email domain, e.g. example.com."})
    for domain in cleaned:
        if not _DOMAIN.match(domain):
            raise ValidationError({"domains": f"{domain!r} is not a domain name (e.g. example.com)."})
    taken = SSODomain.objects.filter(domain__in=cleaned).exclude(workspace=workspace).values_list("domain", flat=True)
    if taken:
        raise ValidationError({"domains": f"{', '.join(sorted(taken))} already belongs to another workspace."})
    return cleaned


def _check_url(url: str, field: str) -> str:
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({field: f"{url!r} is not an http(s) URL."}) from None
    return url


def _fetch(url: str, field: str, what: str) -> requests.Response:
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ValidationError({field: f"Could not read the {what} at {url}: {exc}"}) from None
    return response


def oidc_settings(*, issuer: str) -> dict[str, Any]:
    """allauth's app settings for an OpenID Connect issuer, after checking its discovery document answers."""
    issuer = _check_url(issuer, "issuer").rstrip("/")
    discovery = issuer if "/.well-known/" in issuer else f"{issuer}/.well-known/openid-configuration"
    try:
        config = _fetch(discovery, "issuer", "OpenID configuration").json()
    except ValueError:
        raise ValidationError({"issuer": f"{discovery} did not answer with JSON."}) from None
    if not isinstance(config, dict) or "authorization_endpoint" not in config:
        raise ValidationError({"issuer": f"{discovery} is not an OpenID Connect discovery document."})
    return {"server_url": issuer, "oauth_pkce_enabled": True}


def saml_settings(*, metadata_url: str = "", metadata_xml: str = "", entity_id: str = "") -> dict[str, Any]:
    """allauth's app settings for a SAML IdP, from its metadata URL (re-read by allauth) or uploaded metadata XML."""
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    if bool(metadata_url) == bool(metadata_xml):
        raise ValidationError({"metadata_url": "Give the IdP's metadata URL or upload its metadata XML (one of them)."})
    field = "metadata_url" if metadata_url else "metadata_xml"
    if metadata_url:
        metadata_url = _check_url(metadata_url, field)
        metadata_xml = _fetch(metadata_url, field, "SAML metadata").text
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(metadata_xml, entity_id=entity_id or None)
    except Exception as exc:  # the parser raises lxml's, defusedxml's and its own errors alike
        raise ValidationError({field: f"This is not SAML IdP metadata: {exc}"}) from None
    idp = parsed.get("idp") or {}
    sso_url = (idp.get("singleSignOnService") or {}).get("url")
    cert = idp.get("x509cert") or next(iter((idp.get("x509certMulti") or {}).get("signing", [])), None)
    if not idp.get("entityId") or not sso_url or not cert:
        wanted = f" for entity {entity_id!r}" if entity_id else ""
        raise ValidationError(
            {field: f"The metadata names no IdP{wanted} with a sign-on URL and a signing certificate."}
        )
    if metadata_url:
        # allauth re-reads (and caches) the metadata at sign-in, so certificate rollovers need no change here.
        idp_settings = {"metadata_url": metadata_url, "entity_id": idp["entityId"]}
    else:
        idp_settings = {"entity_id": idp["entityId"], "sso_url": sso_url, "x509cert": cert}
    return {
        "idp": idp_settings,
        "advanced": {"want_assertion_signed": True, "reject_idp_initiated_sso": True},
        "attribute_mapping": {
            "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
            "email": [
                "urn:oid:0.9.2342.19200300.100.1.3",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                "email",
                "mail",
            ],
            "first_name": ["urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"],
            "last_name": ["urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"],
        },
        "use_nameid_for_email": False,
    }


@transaction.atomic
def sso_configure(
    *,
    workspace: Workspace,
    protocol: str,
    provider_settings: dict[str, Any],
    domains: list[str],
    client_id: str = "",
    client_secret: str = "",
    jit_role: str = Role.REP,
    require_sso: bool = False,
) -> WorkspaceSSO:
    """Create or replace the workspace's SSO. `provider_settings` come from `oidc_settings` or `saml_settings`."""
    if protocol not in (OIDC, SAML):
        raise ValidationError({"protocol": "Choose OpenID Connect or SAML."})
    if jit_role not in JIT_ROLES:
        raise ValidationError({"jit_role": "New SSO members can be managers, reps or viewers."})
    existing = WorkspaceSSO.objects.select_related("social_app").filter(workspace=workspace).first()
    if protocol == OIDC and not client_id.strip():
        raise ValidationError({"client_id": "OpenID Connect needs the client id from your IdP."})
    has_secret = existing is not None and existing.social_app.provider == OIDC and bool(existing.client_secret)
    if protocol == OIDC and not client_secret.strip() and not has_secret:
        raise ValidationError({"client_secret": "OpenID Connect needs the client secret from your IdP."})
    cleaned_domains = _clean_domains(domains, workspace)
    app = existing.social_app if existing else SocialApp()
    app.provider = protocol
    app.provider_id = workspace.slug
    app.name = f"{workspace.name} SSO"
    # SAML's allauth URLs name the app by client_id (the "organization slug"); OIDC's by provider_id.
    app.client_id = client_id.strip() if protocol == OIDC else workspace.slug
    secret = existing.client_secret if existing is not None and protocol == OIDC else ""
    if protocol == OIDC and client_secret.strip():
        secret = client_secret.strip()
    app.secret = ""  # kept encrypted in WorkspaceSSO.client_secret instead
    # Hidden: the sign-in page never lists every workspace's IdP; people reach theirs through their email.
    app.settings = {**provider_settings, "hidden": True}
    app.save()
    sso, _ = WorkspaceSSO.objects.update_or_create(
        workspace=workspace,
        defaults={
            "social_app": app,
            "jit_role": jit_role,
            "require_sso": require_sso,
            "client_secret": secret,
            "updated_at": timezone.now(),
        },
    )
    SSODomain.objects.filter(workspace=workspace).exclude(domain__in=cleaned_domains).delete()
    for domain in cleaned_domains:
        SSODomain.objects.get_or_create(workspace=workspace, domain=domain)
    return sso


def sso_client_secrets(app_ids: list[int]) -> dict[int, str]:
    """The decrypted OIDC client secrets of these SocialApps, by app id (for allauth, in memory only)."""
    rows = WorkspaceSSO.objects.filter(social_app_id__in=app_ids).values_list("social_app_id", "client_secret")
    return {app_id: secret for app_id, secret in rows if secret}


def sso_configure_oidc(
    *, workspace: Workspace, issuer: str, client_id: str, client_secret: str = "", **rules: Any
) -> WorkspaceSSO:
    """OpenID Connect: the issuer (its discovery document is read now) and the client registered there."""
    return sso_configure(
        workspace=workspace,
        protocol=OIDC,
        provider_settings=oidc_settings(issuer=issuer),
        client_id=client_id,
        client_secret=client_secret,
        **rules,
    )


def sso_configure_saml(
    *, workspace: Workspace, metadata_url: str = "", metadata_xml: str = "", entity_id: str = "", **rules: Any
) -> WorkspaceSSO:
    """SAML 2.0: the IdP's metadata, by URL or as uploaded XML."""
    provider_settings = saml_settings(metadata_url=metadata_url, metadata_xml=metadata_xml, entity_id=entity_id)
    return sso_configure(workspace=workspace, protocol=SAML, provider_settings=provider_settings, **rules)


@transaction.atomic
def sso_remove(*, workspace: Workspace) -> None:
    sso = WorkspaceSSO.objects.filter(workspace=workspace).select_related("social_app").first()
    SSODomain.objects.filter(workspace=workspace).delete()
    if sso is not None:
        app = sso.social_app
        sso.delete()
        app.delete()  # its SocialAccounts go with it; the users and their memberships stay


# ---- Reads ---------------------------------------------------------------------------------------


def sso_for_email(email: str) -> WorkspaceSSO | None:
    """The SSO of the workspace that owns this email's domain, if any."""
    domain = email_domain(email)
    if not domain:
        return None
    return (
        WorkspaceSSO.objects.select_related("workspace", "social_app")
        .filter(workspace__sso_domains__domain=domain)
        .first()
    )


def sso_for_app(app: SocialApp | None) -> WorkspaceSSO | None:
    if app is None or app.pk is None:
        return None
    return WorkspaceSSO.objects.select_related("workspace").filter(social_app_id=app.pk).first()


def email_in_verified_domain(*, sso: WorkspaceSSO, email: str) -> bool:
    return SSODomain.objects.filter(workspace_id=sso.workspace_id, domain=email_domain(email)).exists()


def workspaces_refusing_password(user: Any) -> list[Workspace]:
    """Workspaces that require SSO of this user: they are an active member there, and not an owner."""
    memberships = (
        Membership.objects.filter(user=user, is_active=True, workspace__sso__require_sso=True)
        .exclude(role=Role.OWNER)
        .select_related("workspace")
    )
    return [m.workspace for m in memberships]


# ---- Sign-in ---------------------------------------------------------------------------------------


def sso_redirect(request: HttpRequest, sso: WorkspaceSSO) -> HttpResponse:
    """Send the browser to the workspace's IdP; after sign-in allauth brings it back to the workspace's board."""
    provider = sso.social_app.get_provider(request)
    next_url = reverse("crm:board", kwargs={"slug": sso.workspace.slug})
    return provider.redirect(request, process="login", next_url=next_url)


def sso_join(*, sso: WorkspaceSSO, user: Any, email: str) -> Membership | None:
    """Just-in-time membership: a person whose IdP email is in a verified domain joins with the configured role.

    A membership that already exists is left as it is (an admin may have deactivated it or changed its role).
    """
    if not email_in_verified_domain(sso=sso, email=email):
        return None
    return membership_add(workspace=sso.workspace, user=user, role=sso.jit_role)
