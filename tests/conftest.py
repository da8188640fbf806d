"""Personas and shared fixtures: an owner, a manager, a rep, a viewer, and an outsider in another workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client

from tenancy.models import Membership, Role, Workspace
from tests.factories import MembershipFactory, TeamFactory, UserFactory, WorkspaceFactory
from vectoros import embedded_db

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The embedded PostgreSQL starts with the first test that needs a database (settings start nothing)."""
    embedded_db.start_for_settings()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip where a clone has no such folder."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (only the project's own machines have the shared data)")
    return SHARED_DATA


@dataclass
class Personas:
    workspace: Workspace
    owner: Membership
    manager: Membership
    rep: Membership
    other_rep: Membership  # in another team, not managed by `manager`
    viewer: Membership
    other_workspace: Workspace
    outsider: Membership  # owner of other_workspace, no membership in `workspace`

    def client_for(self, membership: Membership) -> Client:
        client = Client()
        client.force_login(membership.user)
        return client


@pytest.fixture
def personas(db: None) -> Personas:
    workspace = WorkspaceFactory(name="Acme Sales", slug="acme")
    owner = MembershipFactory(workspace=workspace, role=Role.OWNER, user=UserFactory(email="owner@acme.test"))
    manager = MembershipFactory(workspace=workspace, role=Role.MANAGER, user=UserFactory(email="manager@acme.test"))
    east = TeamFactory(workspace=workspace, name="East", manager=manager)
    west = TeamFactory(workspace=workspace, name="West")
    manager.team = east
    manager.save()
    rep = MembershipFactory(workspace=workspace, role=Role.REP, team=east, user=UserFactory(email="rep@acme.test"))
    other_rep = MembershipFactory(
        workspace=workspace, role=Role.REP, team=west, user=UserFactory(email="west@acme.test")
    )
    viewer = MembershipFactory(workspace=workspace, role=Role.VIEWER, user=UserFactory(email="viewer@acme.test"))
    other = WorkspaceFactory(name="Globex", slug="globex")
    outsider = MembershipFactory(workspace=other, role=Role.OWNER, user=UserFactory(email="owner@globex.test"))
    return Personas(workspace, owner, manager, rep, other_rep, viewer, other, outsider)
