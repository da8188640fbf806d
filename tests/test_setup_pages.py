"""Set-up in the app (admins): pipelines and stages, typed custom fields shown on the deal form and page."""

from __future__ import annotations

from django.urls import reverse

from crm.models import CustomField, Pipeline, Stage
from tests import factories
from tests.factories import default_stage


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


def stage_names(workspace):
    return list(
        Stage.objects.filter(pipeline__workspace=workspace, pipeline__is_default=True).values_list("name", flat=True)
    )


def test_admin_renames_reorders_and_adds_stages(personas):
    owner = personas.client_for(personas.owner)
    page = owner.get(url("crm:setup_pipelines", personas))
    assert page.status_code == 200 and "Prospecting" in page.content.decode()
    discovery = default_stage(personas.workspace, "Discovery")
    prefix = str(discovery.uuid)
    data = {"stage": prefix, f"{prefix}-name": "Demo", f"{prefix}-default_probability": "40", f"{prefix}-kind": "open",
            f"{prefix}-forecast_category": "best_case"}  # fmt: skip
    owner.post(url("crm:setup_stage_save", personas, discovery.pipeline.uuid), data)
    discovery.refresh_from_db()
    assert (discovery.name, discovery.default_probability, discovery.forecast_category) == ("Demo", 40, "best_case")
    owner.post(url("crm:setup_stage_change", personas, discovery.uuid), {"action": "up"})
    assert stage_names(personas.workspace)[:3] == ["Prospecting", "Demo", "Qualification"]
    new = f"new-{discovery.pipeline.uuid}"
    owner.post(url("crm:setup_stage_save", personas, discovery.pipeline.uuid),
               {f"{new}-name": "Legal", f"{new}-default_probability": "85", f"{new}-kind": "open"})  # fmt: skip
    legal = Stage.objects.get(pipeline=discovery.pipeline, name="Legal")
    assert legal.forecast_category == "commit" and stage_names(personas.workspace)[-1] == "Legal"
    # The board shows the new order.
    board = owner.get(url("crm:board", personas), {"skip": "1"})
    assert [c.stage.name for c in board.context["board"].columns][:3] == ["Prospecting", "Demo", "Qualification"]


def test_a_stage_with_deals_keeps_its_kind_and_stays(personas):
    factories.make_deal(personas.workspace, actor=personas.owner, title="In proposal", stage="Proposal")
    proposal = default_stage(personas.workspace, "Proposal")
    owner = personas.client_for(personas.owner)
    prefix = str(proposal.uuid)
    response = owner.post(
        url("crm:setup_stage_save", personas, proposal.pipeline.uuid),
        {"stage": prefix, f"{prefix}-name": "Proposal", f"{prefix}-default_probability": "55", f"{prefix}-kind": "won"},
        follow=True,
    )
    assert "move them first" in response.content.decode()
    deleted = owner.post(url("crm:setup_stage_change", personas, proposal.uuid), {"action": "delete"}, follow=True)
    assert "move them to another stage first" in deleted.content.decode()
    proposal.refresh_from_db()
    assert proposal.kind == "open"
    empty = default_stage(personas.workspace, "Discovery")
    owner.post(url("crm:setup_stage_change", personas, empty.uuid), {"action": "delete"})
    assert "Discovery" not in stage_names(personas.workspace)


def test_add_pipeline_and_refusals(personas):
    owner = personas.client_for(personas.owner)
    owner.post(url("crm:setup_pipelines", personas), {"name": "Partners"})
    assert Pipeline.objects.filter(workspace=personas.workspace, name="Partners").exists()
    again = owner.post(url("crm:setup_pipelines", personas), {"name": "partners"})
    assert again.status_code == 422 and "already a pipeline" in again.content.decode()


def test_only_admins_change_the_set_up(personas):
    stage = default_stage(personas.workspace, "Discovery")
    for member in (personas.manager, personas.rep):
        client = personas.client_for(member)
        assert client.get(url("crm:setup_pipelines", personas)).status_code == 200  # may look
        assert client.post(url("crm:setup_pipelines", personas), {"name": "X"}).status_code == 403
        assert client.post(url("crm:setup_stage_change", personas, stage.uuid), {"action": "delete"}).status_code == 403
        assert client.post(url("crm:setup_fields", personas), {"label": "X", "kind": "text"}).status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert outsider.post(url("crm:setup_stage_change", personas, stage.uuid), {"action": "up"}).status_code == 404
    assert Stage.objects.filter(pk=stage.pk).exists()


def test_custom_fields_are_typed_and_on_the_deal_form_and_page(personas):
    owner = personas.client_for(personas.owner)
    owner.post(url("crm:setup_fields", personas), {"label": "Segment", "kind": "choice", "choices": "SMB\nEnterprise"})
    owner.post(url("crm:setup_fields", personas), {"label": "Seats", "kind": "number"})
    no_choices = owner.post(url("crm:setup_fields", personas), {"label": "Tier", "kind": "choice", "choices": ""})
    assert no_choices.status_code == 422 and "needs its choices" in no_choices.content.decode()
    assert list(CustomField.objects.values_list("key", "kind")) == [("segment", "choice"), ("seats", "number")]

    deal = factories.make_deal(personas.workspace, actor=personas.owner, owner=personas.rep, title="Typed")
    edit = url("crm:deal_edit", personas, deal.uuid)
    form = owner.get(edit).content.decode()
    assert "Segment" in form and "Enterprise" in form
    data = {"title": "Typed", "owner": personas.rep.uuid, "stage": deal.stage.uuid, "amount": "10000",
            "cf_segment": "Enterprise", "cf_seats": "25"}  # fmt: skip
    assert owner.post(edit, data).status_code == 302
    deal.refresh_from_db()
    assert deal.attributes["segment"] == "Enterprise" and deal.attributes["seats"] == 25
    bad = owner.post(edit, {**data, "cf_segment": "Galactic"})
    assert bad.status_code == 422
    page = owner.get(url("crm:deal_detail", personas, deal.uuid)).content.decode()
    assert "<dt>Seats</dt><dd>25</dd>" in page and "<dt>Segment</dt><dd>Enterprise</dd>" in page
