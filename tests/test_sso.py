"""SSO per workspace, against identity providers running locally (oidc-provider, a pysaml2 IdP), without a browser:
the configuration service and command, routing an email to its workspace, just-in-time membership, an IdP email
outside the verified domains, require-SSO, and the settings page."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from tenancy import sso
from tenancy.adapters import SocialAccountAdapter
from tenancy.models import Membership, Role, SSODomain, WorkspaceSSO
from tenancy.services import membership_add, user_get_or_create
from tests.idp.servers import (
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    RunningIdP,
    oidc_authorize_as,
    oidc_provider,
    saml_idp,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def oidc_idp() -> Iterator[RunningIdP]:
    with oidc_provider(["http://testserver/accounts/oidc/acme/login/callback/"]) as idp:
        yield idp


@pytest.fixture(scope="module")
def saml_local_idp() -> Iterator[RunningIdP]:
    with saml_idp() as idp:
        yield idp


@pytest.fixture
def acme_oidc(personas, oidc_idp) -> WorkspaceSSO:
    return sso.sso_configure_oidc(
        workspace=personas.workspace,
        issuer=oidc_idp.url,
        client_id=OIDC_CLIENT_ID,
        client_secret=OIDC_CLIENT_SECRET,
        domains=["Acme.test", " acme-corp.test "],
        jit_role=Role.VIEWER,
    )


def sso_sign_in(client: Client, email: str, idp_email: str | None = None):
    """ "Sign in with SSO" with `email`, authenticate at the IdP as `idp_email`, come back: the final response."""
    start = client.post(reverse("sso_sign_in"), {"email": email})
    assert start.status_code == 302, start.content
    callback = oidc_authorize_as(start["Location"], idp_email or email)
    return client.get(callback)


# ---- Configuration -------------------------------------------------------------------------------------


def test_oidc_configuration_is_an_allauth_app_named_by_the_workspace(acme_oidc, oidc_idp, personas):
    app = acme_oidc.social_app
    assert (app.provider, app.provider_id, app.client_id) == ("openid_connect", "acme", OIDC_CLIENT_ID)
    # The secret is encrypted in our own table; allauth's column stays empty and gets it in memory only.
    assert app.secret == "" and acme_oidc.client_secret == OIDC_CLIENT_SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM tenancy_workspacesso WHERE id = %s", [acme_oidc.id])
        assert OIDC_CLIENT_SECRET not in cursor.fetchone()[0]
    listed = SocialAccountAdapter().list_apps(None, provider="acme")
    assert [a.secret for a in listed] == [OIDC_CLIENT_SECRET]
    assert app.settings["server_url"] == oidc_idp.url
    assert app.settings["hidden"] is True  # never listed on the sign-in page
    assert sorted(personas.workspace.sso_domains.values_list("domain", flat=True)) == ["acme-corp.test", "acme.test"]
    assert acme_oidc.jit_role == Role.VIEWER


def test_reconfiguring_keeps_the_secret_when_none_is_given_and_replaces_the_domains(acme_oidc, oidc_idp, personas):
    again = sso.sso_configure_oidc(
        workspace=personas.workspace, issuer=oidc_idp.url, client_id="other-client", domains=["acme.test"]
    )
    assert again.pk == acme_oidc.pk and SocialApp.objects.count() == 1
    assert again.social_app.client_id == "other-client"
    assert again.client_secret == OIDC_CLIENT_SECRET
    assert list(personas.workspace.sso_domains.values_list("domain", flat=True)) == ["acme.test"]


def test_an_issuer_that_does_not_answer_is_refused_with_its_url(personas):
    dead = "http://127.0.0.1:9/"
    with pytest.raises(ValidationError) as caught:
        sso.sso_configure_oidc(
            workspace=personas.workspace, issuer=dead, client_id="x", client_secret="y", domains=["acme.test"]
        )
    assert "Could not read the OpenID configuration" in str(caught.value.message_dict["issuer"])
    assert not WorkspaceSSO.objects.exists() and not SocialApp.objects.exists()


@pytest.mark.parametrize(
    ("domains", "field", "message"),
    [
        ([], "domains", "at least one email domain"),
        (["not a domain"], "domains", "is not a domain name"),
        (["globex.test"], "domains", "already belongs to another workspace"),
    ],
)
def test_bad_domains_are_refused(personas, oidc_idp, domains, field, message):
    SSODomain.objects.create(workspace=personas.other_workspace, domain="globex.test")
    with pytest.raises(ValidationError) as caught:
        sso.sso_configure_oidc(
            workspace=personas.workspace, issuer=oidc_idp.url, client_id="x", client_secret="y", domains=domains
        )
    assert message in " ".join(caught.value.message_dict[field])


def test_sso_never_makes_owners_by_itself(personas, oidc_idp):
    with pytest.raises(ValidationError, match="managers, reps or viewers"):
        sso.sso_configure_oidc(
            workspace=personas.workspace,
            issuer=oidc_idp.url,
            client_id="x",
            client_secret="y",
            domains=["acme.test"],
            jit_role=Role.OWNER,
        )


def test_saml_from_uploaded_metadata_stores_the_idps_url_and_certificate(personas, saml_local_idp):
    xml = requests.get(f"{saml_local_idp.url}/metadata", timeout=10).text
    configured = sso.sso_configure_saml(workspace=personas.workspace, metadata_xml=xml, domains=["acme.test"])
    app = configured.social_app
    assert (app.provider, app.provider_id, app.client_id) == ("saml", "acme", "acme")
    idp = app.settings["idp"]
    assert idp["entity_id"] == f"{saml_local_idp.url}/metadata"
    assert idp["sso_url"] == f"{saml_local_idp.url}/sso/redirect"
    assert len(idp["x509cert"]) > 500


@pytest.mark.parametrize(
    ("xml", "message"),
    [("<html>hello</html>", "names no IdP with a sign-on URL"), ("<not xml", "not SAML IdP metadata")],
)
def test_saml_metadata_that_is_not_metadata_is_refused(personas, xml, message):
    with pytest.raises(ValidationError, match=message):
        sso.sso_configure_saml(workspace=personas.workspace, metadata_xml=xml, domains=["acme.test"])


def test_configure_sso_command_for_oidc_and_saml(personas, oidc_idp, saml_local_idp, tmp_path):
    out = StringIO()
    call_command(
        "configure_sso",
        "--workspace=acme",
        f"--oidc-issuer={oidc_idp.url}",
        f"--client-id={OIDC_CLIENT_ID}",
        f"--client-secret={OIDC_CLIENT_SECRET}",
        "--domain=acme.test",
        "--require-sso",
        stdout=out,
    )
    assert "acme: OpenID Connect SSO for acme.test" in out.getvalue()
    assert WorkspaceSSO.objects.get(workspace=personas.workspace).require_sso

    metadata = tmp_path / "idp.xml"
    metadata.write_text(requests.get(f"{saml_local_idp.url}/metadata", timeout=10).text)
    call_command("configure_sso", "--workspace=acme", f"--saml-metadata={metadata}", "--domain=acme.test", stdout=out)
    configured = WorkspaceSSO.objects.get(workspace=personas.workspace)
    assert configured.protocol == "saml" and not configured.require_sso

    with pytest.raises(CommandError, match="No workspace with slug 'nope'"):
        call_command("configure_sso", "--workspace=nope", f"--saml-metadata={metadata}", "--domain=a.test")
    with pytest.raises(CommandError, match="either --oidc-issuer"):
        call_command("configure_sso", "--workspace=acme", "--domain=acme.test")
    call_command("configure_sso", "--workspace=acme", "--remove", stdout=out)
    assert not WorkspaceSSO.objects.exists() and not SocialApp.objects.exists()


# ---- Routing -------------------------------------------------------------------------------------------


def test_an_email_routes_to_the_workspace_that_owns_its_domain(acme_oidc, personas):
    assert sso.sso_for_email("Someone@ACME-corp.test") == acme_oidc
    assert sso.sso_for_email("someone@globex.test") is None
    assert sso.sso_for_email("not-an-email") is None


def test_sign_in_with_sso_sends_the_browser_to_the_workspaces_idp(acme_oidc, oidc_idp):
    response = Client().post(reverse("sso_sign_in"), {"email": "new@acme.test"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{oidc_idp.url}/auth?")
    assert f"client_id={OIDC_CLIENT_ID}" in response["Location"]


def test_sign_in_with_sso_for_an_unknown_domain_says_so(acme_oidc):
    response = Client().post(reverse("sso_sign_in"), {"email": "someone@elsewhere.test"})
    assert response.status_code == 422
    assert "No workspace signs in people from elsewhere.test through SSO" in response.content.decode()


def test_the_password_sign_in_page_offers_sso():
    response = Client().get(reverse("account_login"))
    assert reverse("sso_sign_in") in response.content.decode()


# ---- Just-in-time membership -----------------------------------------------------------------------------


def test_first_sso_sign_in_makes_a_member_with_the_configured_role(acme_oidc, personas):
    client = Client()
    response = sso_sign_in(client, "newcomer@acme.test")
    assert response.status_code == 302 and response["Location"] == "/w/acme/"
    membership = Membership.objects.get(workspace=personas.workspace, user__email="newcomer@acme.test")
    assert membership.role == Role.VIEWER
    assert EmailAddress.objects.get(email="newcomer@acme.test").verified
    assert client.get("/w/acme/").status_code == 200


def test_an_existing_member_signs_in_to_their_account_and_keeps_their_role(acme_oidc, personas):
    response = sso_sign_in(Client(), "manager@acme.test")
    assert response["Location"] == "/w/acme/"
    assert get_user_model().objects.filter(email__iexact="manager@acme.test").count() == 1
    assert Membership.objects.get(workspace=personas.workspace, user=personas.manager.user).role == Role.MANAGER


def test_an_idp_email_outside_the_verified_domains_gets_nothing(acme_oidc, personas):
    # Acme's IdP vouches (email_verified: true) for an address in a domain Acme has not verified: here the
    # address of Globex's owner, who has an account already.
    client = Client()
    response = sso_sign_in(client, "someone@acme.test", idp_email="owner@globex.test")
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert "_auth_user_id" not in client.session
    assert not Membership.objects.filter(workspace=personas.workspace, user=personas.outsider.user).exists()
    assert not SocialAccount.objects.filter(user=personas.outsider.user).exists()
    page = client.get(reverse("account_login")).content.decode()
    assert "owner@globex.test is not one of them" in page


def test_an_unknown_idp_email_outside_the_verified_domains_makes_no_account(acme_oidc, personas):
    sso_sign_in(Client(), "someone@acme.test", idp_email="intruder@elsewhere.test")
    assert not get_user_model().objects.filter(email="intruder@elsewhere.test").exists()
    assert not Membership.objects.filter(email="intruder@elsewhere.test").exists()


def test_a_deactivated_member_is_not_brought_back_by_sso(acme_oidc, personas):
    Membership.objects.filter(pk=personas.rep.pk).update(is_active=False)
    sso_sign_in(Client(), "rep@acme.test")
    assert not Membership.objects.get(pk=personas.rep.pk).is_active


# ---- Require SSO ---------------------------------------------------------------------------------------


def _password_login(email: str, password: str):
    return Client().post(reverse("account_login"), {"login": email, "password": password})


def test_require_sso_refuses_a_members_password_and_lets_owners_in(acme_oidc, personas):
    member = user_get_or_create(email="member@acme.test", password="member-pass-123")
    membership_add(workspace=personas.workspace, user=member, role=Role.REP)
    owner = user_get_or_create(email="owner@acme.test", password="owner-pass-123")
    assert _password_login("member@acme.test", "member-pass-123").status_code == 302  # not required yet

    WorkspaceSSO.objects.filter(pk=acme_oidc.pk).update(require_sso=True)
    refused = _password_login("member@acme.test", "member-pass-123")
    assert refused.status_code == 200
    assert "Acme Sales requires single sign-on" in refused.content.decode()
    assert _password_login("owner@acme.test", "owner-pass-123").status_code == 302
    assert owner.memberships.get().role == Role.OWNER


def test_require_sso_does_not_reveal_itself_to_a_wrong_password(acme_oidc, personas):
    member = user_get_or_create(email="member@acme.test", password="member-pass-123")
    membership_add(workspace=personas.workspace, user=member, role=Role.REP)
    WorkspaceSSO.objects.filter(pk=acme_oidc.pk).update(require_sso=True)
    page = _password_login("member@acme.test", "wrong-password").content.decode()
    assert "single sign-on" not in page


# ---- Settings page -------------------------------------------------------------------------------------


def test_sso_settings_page_is_for_admins(personas):
    url = reverse("tenancy:sso", args=["acme"])
    assert personas.client_for(personas.owner).get(url).status_code == 200
    assert personas.client_for(personas.rep).get(url).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).put(url).status_code == 405


def test_an_admin_uploads_saml_metadata_from_the_settings_page(personas, saml_local_idp):
    xml = requests.get(f"{saml_local_idp.url}/metadata", timeout=10).content
    response = personas.client_for(personas.owner).post(
        reverse("tenancy:sso", args=["acme"]),
        {
            "protocol": "saml",
            "domains": "acme.test",
            "jit_role": "rep",
            "require_sso": "on",
            "metadata_file": SimpleUploadedFile("idp.xml", xml, content_type="text/xml"),
        },
    )
    assert response.status_code == 302
    configured = WorkspaceSSO.objects.get(workspace=personas.workspace)
    assert configured.protocol == "saml" and configured.require_sso
    page = personas.client_for(personas.owner).get(reverse("tenancy:sso", args=["acme"])).content.decode()
    assert "Signing in through <strong>SAML 2.0</strong>" in page
    assert "/accounts/saml/acme/metadata/" in page


def test_the_settings_page_shows_a_bad_issuer_beside_its_field(personas):
    response = personas.client_for(personas.owner).post(
        reverse("tenancy:sso", args=["acme"]),
        {"protocol": "openid_connect", "domains": "acme.test", "jit_role": "rep", "issuer": "http://127.0.0.1:9"},
    )
    assert response.status_code == 422
    assert "Could not read the OpenID configuration" in response.content.decode()
    assert not WorkspaceSSO.objects.exists()


def test_removing_sso_from_the_settings_page(acme_oidc, personas):
    url = reverse("tenancy:sso_delete", args=["acme"])
    assert personas.client_for(personas.rep).post(url).status_code == 403
    assert personas.client_for(personas.owner).post(url).status_code == 302
    assert not WorkspaceSSO.objects.exists() and not SSODomain.objects.exists()


def test_a_signed_in_user_cannot_link_a_workspaces_idp_to_their_account(acme_oidc, personas):
    client = personas.client_for(personas.outsider)
    start = client.post(reverse("openid_connect_login", args=["acme"]), {"process": "connect"})
    assert start.status_code == 302
    response = client.get(oidc_authorize_as(start["Location"], "rep@acme.test"))
    assert response["Location"] == reverse("account_login")
    assert not SocialAccount.objects.exists()
    assert not Membership.objects.filter(workspace=personas.workspace, user=personas.outsider.user).exists()


def test_an_idp_app_that_belongs_to_no_workspace_lets_nobody_in(acme_oidc, personas):
    WorkspaceSSO.objects.filter(pk=acme_oidc.pk).delete()  # as if left behind; the SocialApp stays
    client = Client()
    start = client.post(reverse("openid_connect_login", args=["acme"]))
    response = client.get(oidc_authorize_as(start["Location"], "newcomer@acme.test"))
    # Its client secret went with the workspace's SSO row, so the IdP's code cannot even be exchanged (401).
    assert response.status_code == 401 and "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(email="newcomer@acme.test").exists()
