"""Deals with a stage path through time, written through crm.services (so their history is a real deal's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from crm.models import Deal, Stage
from crm.services import deal_update
from tenancy.models import Membership, Workspace
from tests.factories import make_deal


def stage_named(workspace: Workspace, name: str) -> Stage:
    return Stage.objects.get(pipeline__workspace=workspace, pipeline__is_default=True, name=name)


def deal_through(
    workspace: Workspace,
    owner: Membership | None,
    path: list[tuple[str, datetime]],
    *,
    amount: int | str = 10000,
    title: str = "Deal",
    **fields: object,
) -> Deal:
    """A deal created in the first stage of `path` at its moment, then moved along the rest at theirs."""
    (first, created), rest = path[0], path[1:]
    deal = make_deal(
        workspace, title=title, stage=first, amount=Decimal(str(amount)), owner=owner, at=created, **fields
    )
    for name, at in rest:
        deal = deal_update(deal=deal, actor=None, changes={"stage": stage_named(workspace, name)}, at=at)
    return deal


def days_ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
