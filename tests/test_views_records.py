"""Companies and contacts: lists, search, detail pages, create and edit."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from crm.models import Company, Contact
from crm.services import activity_log, deal_create
from tests.factories import CompanyFactory, ContactFactory, default_stage


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


def test_company_list_search_and_pagination(personas):
    CompanyFactory(workspace=personas.workspace, name="Acme Corp", domain="acme.com")
    CompanyFactory(workspace=personas.workspace, name="Initech")
    CompanyFactory(workspace=personas.other_workspace, name="Acme Elsewhere")
    client = personas.client_for(personas.viewer)
    everything = client.get(url("crm:company_list", personas))
    assert [c.name for c in everything.context["page"]] == ["Acme Corp", "Initech"]
    found = client.get(url("crm:company_list", personas), {"q": "acme"})
    assert [c.name for c in found.context["page"]] == ["Acme Corp"]
    partial = client.get(url("crm:company_list", personas), {"q": "ini"}, headers={"HX-Request": "true"})
    assert "Initech" in partial.content.decode() and "<html" not in partial.content.decode()
    assert client.get(url("crm:company_list", personas), {"page": "abc"}).status_code == 200
    assert client.post(url("crm:company_list", personas)).status_code == 405
    assert personas.client_for(personas.outsider).get(url("crm:company_list", personas)).status_code == 404


def test_company_detail_shows_visible_deals_and_contacts(personas):
    ws = personas.workspace
    acme = CompanyFactory(workspace=ws, name="Acme Corp")
    grace = ContactFactory(workspace=ws, company=acme, first_name="Grace", last_name="Hopper")
    for owner, title in ((personas.rep, "East deal"), (personas.other_rep, "West deal")):
        deal = deal_create(workspace=ws, actor=owner, title=title, stage=default_stage(ws), owner=owner, company=acme)
        activity_log(workspace=ws, actor=owner, kind="call", subject=f"Call about {title}", deal=deal, contacts=[grace])
    activity_log(workspace=ws, actor=personas.other_rep, kind="note", subject="Met at the fair", company=acme)
    html = personas.client_for(personas.rep).get(url("crm:company_detail", personas, acme.uuid)).content.decode()
    assert "Grace Hopper" in html and "East deal" in html and "West deal" not in html
    # Another team's deal stays hidden in the company's and the contact's timelines too.
    assert "Call about East deal" in html and "Met at the fair" in html and "Call about West deal" not in html
    contact_html = personas.client_for(personas.rep).get(url("crm:contact_detail", personas, grace.uuid)).content
    assert b"Call about East deal" in contact_html and b"Call about West deal" not in contact_html
    owner_html = personas.client_for(personas.owner).get(url("crm:company_detail", personas, acme.uuid)).content
    assert b"Call about West deal" in owner_html
    assert personas.client_for(personas.outsider).get(url("crm:company_detail", personas, acme.uuid)).status_code == 404


def test_company_create_and_edit(personas):
    client = personas.client_for(personas.rep)
    response = client.post(
        url("crm:company_create", personas),
        {"name": "Globochem", "domain": "globochem.io", "employees": "250", "annual_revenue": "1500000.50",
         "owner": str(personas.rep.uuid)},
    )  # fmt: skip
    company = Company.objects.get(name="Globochem")
    assert response.status_code == 302 and response["Location"] == url("crm:company_detail", personas, company.uuid)
    assert company.workspace == personas.workspace and company.annual_revenue == Decimal("1500000.50")
    assert company.owner == personas.rep
    edit = client.post(url("crm:company_edit", personas, company.uuid), {"name": "Globochem Inc", "employees": "300"})
    assert edit.status_code == 302
    company.refresh_from_db()
    assert company.name == "Globochem Inc" and company.employees == 300 and company.owner is None


def test_company_form_errors_and_permissions(personas):
    client = personas.client_for(personas.owner)
    bad = client.post(url("crm:company_create", personas), {"name": "", "employees": "-3", "annual_revenue": "lots"})
    assert bad.status_code == 422
    assert set(bad.context["form"].errors) == {"name", "employees", "annual_revenue"}
    foreign_owner = client.post(
        url("crm:company_create", personas), {"name": "X", "owner": str(personas.outsider.uuid)}
    )
    assert foreign_owner.status_code == 422 and "owner" in foreign_owner.context["form"].errors
    assert not Company.objects.filter(workspace=personas.workspace).exists()
    acme = CompanyFactory(workspace=personas.workspace, name="Acme")
    assert (
        personas.client_for(personas.viewer).post(url("crm:company_create", personas), {"name": "V"}).status_code == 403
    )
    assert (
        personas.client_for(personas.viewer)
        .post(url("crm:company_edit", personas, acme.uuid), {"name": "V"})
        .status_code
        == 403
    )
    assert (
        personas.client_for(personas.outsider)
        .post(url("crm:company_edit", personas, acme.uuid), {"name": "O"})
        .status_code
        == 404
    )
    assert personas.client_for(personas.owner).delete(url("crm:company_edit", personas, acme.uuid)).status_code == 405
    acme.refresh_from_db()
    assert acme.name == "Acme"


def test_contacts(personas):
    ws = personas.workspace
    acme = CompanyFactory(workspace=ws, name="Acme Corp")
    client = personas.client_for(personas.rep)
    response = client.post(
        url("crm:contact_create", personas),
        {"first_name": "Grace", "last_name": "Hopper", "email": "grace@acme.com", "company": str(acme.uuid)},
    )
    grace = Contact.objects.get(last_name="Hopper")
    assert response.status_code == 302 and grace.company == acme and grace.workspace == ws
    listed = client.get(url("crm:contact_list", personas), {"q": "acme"})
    assert [c.full_name for c in listed.context["page"]] == ["Grace Hopper"]
    deal = deal_create(
        workspace=ws, actor=personas.rep, title="Grace's deal", stage=default_stage(ws), owner=personas.rep
    )
    deal.contacts.add(grace)
    detail = client.get(url("crm:contact_detail", personas, grace.uuid)).content.decode()
    assert "Grace&#x27;s deal" in detail and "Acme Corp" in detail
    edit = client.post(url("crm:contact_edit", personas, grace.uuid), {"last_name": "Hopper", "email": "not-an-email"})
    assert edit.status_code == 422 and "Enter a valid email address." in edit.content.decode()
    foreign = CompanyFactory(workspace=personas.other_workspace)
    refused = client.post(
        url("crm:contact_edit", personas, grace.uuid), {"last_name": "H", "company": str(foreign.uuid)}
    )
    assert refused.status_code == 422
    grace.refresh_from_db()
    assert grace.email == "grace@acme.com" and grace.company == acme
    assert (
        personas.client_for(personas.viewer).post(url("crm:contact_create", personas), {"last_name": "V"}).status_code
        == 403
    )
    assert (
        personas.client_for(personas.outsider).get(url("crm:contact_detail", personas, grace.uuid)).status_code == 404
    )
    assert client.post(url("crm:contact_detail", personas, grace.uuid)).status_code == 405
