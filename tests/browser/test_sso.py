"""In real Chromium, against identity providers running locally (oidc-provider, a pysaml2 IdP), not mocks:
signing in with SSO lands in the workspace that owns the email's domain, with a just-in-time membership, and
a workspace that requires SSO refuses a member's password."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenancy import sso
from tenancy.models import Membership, Role, Workspace
from tenancy.services import membership_add, user_get_or_create, workspace_create
from tests.browser.conftest import SCREENSHOTS, sign_in
from tests.idp.servers import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, RunningIdP, oidc_provider, saml_idp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def oidc_idp(live_server) -> Iterator[RunningIdP]:
    with oidc_provider([f"{live_server.url}/accounts/oidc/initech/login/callback/"]) as idp:
        yield idp


@pytest.fixture(scope="session")
def saml_local_idp() -> Iterator[RunningIdP]:
    with saml_idp() as idp:
        yield idp


@pytest.fixture
def initech():
    owner = user_get_or_create(email="bill@initech.test", password="owner-pass-123")
    return workspace_create(name="Initech", slug="initech", owner_user=owner)


def initech_uses(oidc_idp: RunningIdP, **rules) -> None:
    workspace = Workspace.objects.get(slug="initech")
    sso.sso_configure_oidc(
        workspace=workspace,
        issuer=oidc_idp.url,
        client_id=OIDC_CLIENT_ID,
        client_secret=OIDC_CLIENT_SECRET,
        domains=["initech.test"],
        **rules,
    )


def start_sso(page, live_server_url: str, email: str) -> None:
    """From the ordinary sign-in page, as a person would: "Sign in with SSO", then the work email."""
    page.goto(f"{live_server_url}/accounts/login/")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.fill("input[name=email]", email)
    page.screenshot(path=str(SCREENSHOTS / "sso-sign-in.png"))
    page.get_by_role("button", name="Continue").click()


def landed_in_initech(page, live_server_url: str, email: str) -> Membership:
    """Back from the IdP on Initech's board, signed in as `email`, a member with a verified address."""
    page.wait_for_url(f"{live_server_url}/w/initech/")
    assert "Initech" in page.title()
    assert "Sales pipeline" in page.inner_text("main")
    assert email in page.inner_text("header")
    membership = Membership.objects.get(workspace__slug="initech", user__email=email)
    assert membership.user.emailaddress_set.get(email=email).verified
    return membership


def test_oidc_sign_in_lands_in_the_workspace_with_a_new_membership(
    page, live_server, oidc_idp, initech, screenshot_dir
):
    initech_uses(oidc_idp, jit_role=Role.MANAGER)
    start_sso(page, live_server.url, "peter@initech.test")
    # oidc-provider's own sign-in and consent pages.
    page.wait_for_url(f"{oidc_idp.url}/**")
    page.fill("input[name=login]", "peter@initech.test")
    page.fill("input[name=password]", "anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()

    membership = landed_in_initech(page, live_server.url, "peter@initech.test")
    assert membership.role == Role.MANAGER
    page.screenshot(path=str(screenshot_dir / "sso-oidc-landed.png"))


def test_an_admin_sets_up_oidc_on_the_settings_page(page, live_server, oidc_idp, initech, screenshot_dir):
    sign_in(page, live_server.url, "bill@initech.test", "owner-pass-123")
    page.goto(f"{live_server.url}/w/initech/settings/")
    page.get_by_role("link", name="Single sign-on").click()
    page.select_option("select[name=protocol]", "openid_connect")
    page.fill("input[name=domains]", "initech.test")
    page.fill("input[name=issuer]", oidc_idp.url)
    page.fill("input[name=client_id]", OIDC_CLIENT_ID)
    page.fill("input[name=client_secret]", OIDC_CLIENT_SECRET)
    page.get_by_role("button", name="Save single sign-on").click()
    page.screenshot(path=str(screenshot_dir / "sso-settings.png"), full_page=True)
    assert "Single sign-on saved." in page.inner_text("#messages")
    assert "Signing in through OpenID Connect for initech.test" in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "sso-settings.png"), full_page=True)
    assert sso.sso_for_email("x@initech.test").workspace == initech


def test_saml_sign_in_lands_in_the_workspace_with_a_new_membership(page, live_server, saml_local_idp, initech):
    sso.sso_configure_saml(workspace=initech, metadata_url=f"{saml_local_idp.url}/metadata", domains=["initech.test"])
    start_sso(page, live_server.url, "milton@initech.test")
    page.wait_for_url(f"{saml_local_idp.url}/**")
    page.fill("input[name=email]", "milton@initech.test")
    page.get_by_role("button", name="Sign in to the IdP").click()

    # The SAML IdP says nothing about verification: the address counts as verified for being in Initech's domain.
    assert landed_in_initech(page, live_server.url, "milton@initech.test").role == Role.REP


def test_require_sso_refuses_a_members_password_but_not_the_owners(page, live_server, oidc_idp, initech):
    member = user_get_or_create(email="samir@initech.test", password="member-pass-123")
    membership_add(workspace=initech, user=member, role=Role.REP)
    initech_uses(oidc_idp, require_sso=True)
    sign_in(page, live_server.url, "samir@initech.test", "member-pass-123")
    assert "/accounts/login/" in page.url
    assert "Initech requires single sign-on" in page.inner_text("main")

    sign_in(page, live_server.url, "bill@initech.test", "owner-pass-123")
    assert page.url.endswith("/w/initech/")
