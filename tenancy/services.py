"""Creating workspaces, adding members, invitations."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from tenancy.models import ApiKey, Invitation, Membership, Role, Team, Workspace

INVITATION_DAYS = 14


def unique_slug(name: str) -> str:
    base = (slugify(name) or "workspace")[:40].strip("-") or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(
    *, name: str, slug: str, owner_user, currency: str = "USD", time_zone: str = "UTC", is_demo: bool = False
) -> Workspace:
    """A workspace with the owner as its first member, then every `WORKSPACE_CREATED_HOOKS` entry (its pipeline)."""
    workspace = Workspace(name=name, slug=slug, currency=currency, time_zone=time_zone, is_demo=is_demo)
    workspace.full_clean()
    workspace.save()
    membership_add(workspace=workspace, user=owner_user, role=Role.OWNER)
    for hook in settings.WORKSPACE_CREATED_HOOKS:
        import_string(hook)(workspace=workspace)
    return workspace


def membership_add(*, workspace: Workspace, user, role: str, team: Team | None = None) -> Membership:
    name = user.get_full_name() or user.email.split("@")[0]
    membership, _ = Membership.objects.get_or_create(
        workspace=workspace,
        user=user,
        defaults={"display_name": name, "email": user.email, "role": role, "team": team},
    )
    return membership


def user_get_or_create(*, email: str, password: str | None = None):
    """The user with this email (created when missing), with a verified primary address for allauth."""
    User = get_user_model()
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(username=email[:150], email=email, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def invitation_token_hash(raw_token: str) -> str:
    """Only this is stored: a database read does not give anyone a working invitation link."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


def invitation_by_token(raw_token: str) -> Invitation | None:
    return Invitation.objects.select_related("workspace").filter(token_hash=invitation_token_hash(raw_token)).first()


@transaction.atomic
def invitation_create(
    *, workspace: Workspace, invited_by: Membership, email: str, role: str, team: Team | None = None
) -> Invitation:
    if role == Role.OWNER and invited_by.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can invite another owner."})
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {workspace.name}."})
    raw_token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email.lower(),
        role=role,
        team=team,
        token_hash=invitation_token_hash(raw_token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    link = reverse("invitation_accept", args=[raw_token])
    transaction.on_commit(
        lambda: send_mail(
            f"You are invited to {workspace.name} on VectorOS",
            f"{invited_by.display_name} invited you to join {workspace.name} as {invitation.get_role_display()}.\n\n"
            f"Accept: {_site_url()}{link}\n\nThe link works for {INVITATION_DAYS} days.",
            None,
            [invitation.email],
        )
    )
    return invitation


def _site_url() -> str:
    return settings.SITE_URL.rstrip("/")


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    if not invitation.is_open:
        raise ValidationError("This invitation has expired or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(f"This invitation is for {invitation.email}; you are signed in as {user.email}.")
    membership = membership_add(workspace=invitation.workspace, user=user, role=invitation.role, team=invitation.team)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


API_KEY_PREFIX = "vos_"


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, workspace: Workspace, name: str, created_by: Membership | None = None) -> tuple[ApiKey, str]:
    """A new key and its raw value, which is never stored and so can be shown only now."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        workspace=workspace, name=name, prefix=raw[:10], key_hash=api_key_hash(raw), created_by=created_by
    )
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    key = ApiKey.objects.active().select_related("workspace").filter(key_hash=api_key_hash(raw_key)).first()
    if key is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


# ---- Workspace settings pages (owners and admins) ------------------------------------------------


@transaction.atomic
def workspace_update(
    *, workspace: Workspace, name: str, currency: str, fiscal_year_start_month: int, time_zone: str
) -> Workspace:
    workspace.name = name
    workspace.currency = currency.upper()
    workspace.fiscal_year_start_month = fiscal_year_start_month
    workspace.time_zone = time_zone
    workspace.full_clean()
    workspace.save()
    return workspace


@transaction.atomic
def membership_update(*, membership: Membership, actor: Membership, role: str, team: Team | None) -> Membership:
    """Change a member's role and team. Only an owner makes or unmakes owners; the last owner stays one."""
    if team is not None and team.workspace_id != membership.workspace_id:
        raise ValidationError({"team": "Unknown team."})
    touches_owner = Role.OWNER in {role, membership.role}
    if touches_owner and role != membership.role and actor.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can make or unmake owners."})
    if membership.role == Role.OWNER and role != Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            workspace_id=membership.workspace_id, role=Role.OWNER, is_active=True
        )
        if owners.count() <= 1:
            raise ValidationError({"role": "A workspace needs at least one owner."})
    membership.role = role
    membership.team = team
    membership.full_clean()
    membership.save(update_fields=["role", "team"])
    return membership


@transaction.atomic
def team_save(
    *, workspace: Workspace, team: Team | None = None, name: str, manager: Membership | None, parent: Team | None
) -> Team:
    """Create or change a team; a parent may not be the team itself or one of its descendants."""
    team = team or Team(workspace=workspace)
    for related, label in ((manager, "manager"), (parent, "parent")):
        if related is not None and related.workspace_id != workspace.id:
            raise ValidationError({label: "Unknown choice."})
    ancestor = parent
    while ancestor is not None:
        if team.pk is not None and ancestor.pk == team.pk:
            raise ValidationError({"parent": "A team cannot sit under itself or one of its own sub-teams."})
        ancestor = ancestor.parent
    team.name, team.manager, team.parent = name, manager, parent
    team.full_clean()
    team.save()
    return team


def invitation_revoke(*, invitation: Invitation) -> None:
    """An open invitation stops working (its link answers "expired or already used")."""
    if invitation.accepted_at is None:
        invitation.delete()
