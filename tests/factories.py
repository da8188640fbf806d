"""factory_boy factories for the CRM's models. Objects go through the same tables the services write."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model

from crm.models import Activity, ActivityKind, ChangeSource, Company, Contact, Deal, Pipeline, Stage
from crm.services import deal_create
from tenancy.models import Membership, Role, Team, Workspace


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.LazyAttribute(lambda o: o.email)
    password = factory.django.Password("correct-horse-battery")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"ws-{n}")

    @factory.post_generation
    def with_pipeline(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted is not False:
            from crm.services import pipeline_create_default

            pipeline_create_default(workspace=self)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda o: o.user.email.split("@")[0] if o.user else "Agent")
    email = factory.LazyAttribute(lambda o: o.user.email if o.user else "")
    role = Role.REP


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Company {n}")
    industry = "software"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    workspace = factory.SubFactory(WorkspaceFactory)
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


def default_stage(workspace: Workspace, name: str = "Prospecting") -> Stage:
    return Stage.objects.get(pipeline__workspace=workspace, pipeline__is_default=True, name=name)


def make_deal(
    workspace: Workspace,
    *,
    title: str = "Deal",
    stage: Stage | str = "Prospecting",
    amount: Decimal | int | str = "10000",
    owner: Membership | None = None,
    actor: Membership | None = None,
    at: datetime | None = None,
    source_of_change: str = ChangeSource.WEB,
    **fields: Any,
) -> Deal:
    """A deal created through `crm.services.deal_create`, so its history starts as a real deal's does.

    `stage` is a Stage or the name of one in the default pipeline; `at` is when it was created.
    """
    if isinstance(stage, str):
        stage = default_stage(workspace, stage)
    if at is not None:
        fields.setdefault("created_at", at)
    return deal_create(
        workspace=workspace,
        actor=actor,
        title=title,
        stage=stage,
        amount=Decimal(str(amount)),
        owner=owner,
        at=at,
        source_of_change=source_of_change,
        **fields,
    )


class DealFactory(factory.django.DjangoModelFactory):
    """A bare deal row without history, for tests of reads that need many rows fast; `make_deal` writes
    history through the service like every real deal."""

    class Meta:
        model = Deal

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Deal {n}")
    pipeline = factory.LazyAttribute(lambda o: Pipeline.objects.get(workspace=o.workspace, is_default=True))
    stage = factory.LazyAttribute(lambda o: default_stage(o.workspace))
    amount = Decimal("10000.00")


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    workspace = factory.SubFactory(WorkspaceFactory)
    kind = ActivityKind.CALL
    subject = factory.Sequence(lambda n: f"Call {n}")
