"""Creating workspaces, adding and removing members, invitations, API keys."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from importlib import import_module
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from tenancy.models import ApiKey, ApiKeyScope, Invitation, Membership, Role, Team, Workspace
from tenancy.scope import Scope
from vectoros import ratelimit

logger = logging.getLogger(__name__)

INVITATION_DAYS = 14
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email, is_active=True).exists():
        raise ValidationError({"email": f"{email} is already a member of {workspace.name}."})
    if ratelimit.hit("invitations", f"workspace:{workspace.id}") is not None:
        limit = ratelimit.limit_named("invitations")
        raise ValidationError(
            {"email": f"{workspace.name} sent its {limit.amount} invitations for today; try again tomorrow."}
        )
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
            f"You are invited to {_one_line(workspace.name)} on VectorOS",
            f"{_one_line(invited_by.display_name)} invited you to join “{_one_line(workspace.name)}” on VectorOS "
            f"as {invitation.get_role_display()}.\n\n"
            f"Accept: {_site_url()}{link}\n\nThe link works for {INVITATION_DAYS} days.",
            None,
            [invitation.email],
        )
    )
    return invitation


def invitation_from_next_url(next_url: str) -> Invitation | None:
    """The open invitation a sign-up's `next` leads to (`/invitations/<token>/`), if any."""
    try:
        match = resolve(urlsplit(next_url).path or "/")
    except Resolver404:
        return None
    if match.url_name != "invitation_accept":
        return None
    invitation = invitation_by_token(match.kwargs.get("token", ""))
    return invitation if invitation is not None and invitation.is_open else None


def _one_line(text: str, cap: int = 60) -> str:
    """A name as it goes into our fixed invitation text: one line, at most `cap` characters, no links."""
    flat = " ".join(text.split()).replace("://", ":// ")
    return flat if len(flat) <= cap else flat[: cap - 1] + "…"


def _site_url() -> str:
    return settings.SITE_URL.rstrip("/")


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    if not invitation.is_open:
        raise ValidationError("This invitation has expired or was already used.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(f"This invitation is for {invitation.email}; you are signed in as {user.email}.")
    membership = membership_add(workspace=invitation.workspace, user=user, role=invitation.role, team=invitation.team)
    if not membership.is_active:
        # A removed member comes back only through a new invitation (never by SSO's just-in-time membership).
        membership.is_active, membership.role, membership.team = True, invitation.role, invitation.team
        membership.save(update_fields=["is_active", "role", "team"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


API_KEY_PREFIX = "vos_"


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    created_by: Membership | None = None,
    scope: str = ApiKeyScope.WRITE,
    expires_at: datetime | None = None,
    workspace_wide: bool = False,
) -> tuple[ApiKey, str]:
    """A new key and its raw value, which is never stored and so can be shown only now.

    A member's key sees what the member sees; only an owner or admin may make a workspace-wide one. A key
    without a maker (the command line) is workspace-wide. `scope` defaults to write because keys made before
    scopes existed wrote; the keys page and `create_api_key` default to read.
    """
    if created_by is not None:
        if created_by.workspace_id != workspace.id or not created_by.is_active:
            raise ValidationError({"created_by": "Unknown member."})
        if workspace_wide and not created_by.can_administer:
            raise ValidationError({"workspace_wide": "Only owners and admins make workspace-wide keys."})
        if scope == ApiKeyScope.WRITE and not created_by.can_write:
            raise ValidationError({"scope": "A viewer's key can only read."})
    if scope not in ApiKeyScope.values:
        raise ValidationError({"scope": f"Scope is one of {', '.join(ApiKeyScope.values)}."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace=workspace,
        name=name,
        prefix=raw[:10],
        key_hash=api_key_hash(raw),
        created_by=created_by,
        scope=scope,
        expires_at=expires_at,
        workspace_wide=workspace_wide or created_by is None,
    )
    key.full_clean()
    key.save()
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


API_KEY_LAST_USED_EVERY = timedelta(minutes=1)


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The key if it opens the API now (not revoked, not expired, its maker still a member), else None (401)."""
    key = (
        ApiKey.objects.active()
        .select_related("workspace", "created_by__workspace", "created_by__team")
        .filter(key_hash=api_key_hash(raw_key))
        .first()
    )
    now = timezone.now()
    if key is not None and (key.last_used_at is None or now - key.last_used_at >= API_KEY_LAST_USED_EVERY):
        # At most once a minute (the keys page shows it to the minute): a write per request on one row is what
        # an integration's concurrent calls would otherwise queue on.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_scope(key: ApiKey) -> Scope:
    """What the key sees: its maker's Scope, or the whole workspace for a workspace-wide key."""
    if key.workspace_wide or key.created_by is None:
        return Scope.whole_workspace(key.workspace)
    return Scope.for_member(key.created_by)


def api_key_admit(key: ApiKey, *, method: str) -> None:
    """Refuse a write method with a read key (PermissionDenied, 403) and a key over its rate (RateLimited, 429)."""
    if method.upper() not in SAFE_METHODS and not key.can_write:
        raise PermissionDenied(f"The API key “{key.name}” is read-only.")
    ratelimit.enforce(None, "api_key", f"key:{key.id}", what=f"API key “{key.name}”")


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


# ---- Removing a member --------------------------------------------------------------------------


@transaction.atomic
def membership_remove(
    *, membership: Membership, actor: Membership | None, reassign_to: Membership | None = None
) -> Membership:
    """Deactivate a member: out of the workspace at once, their API keys revoked, their open deals handed to
    `reassign_to` (or left unassigned) by every MEMBER_REMOVED_HOOKS entry, and, when this was their last
    active workspace, every session of theirs ended. `actor` None is the command line.
    """
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if not locked.is_active:
        raise ValidationError(f"{locked.display_name} is no longer a member.")
    if actor is not None:
        if not actor.can_administer or actor.workspace_id != locked.workspace_id:
            raise PermissionDenied("Only owners and admins can remove members.")
        if locked.role == Role.OWNER and actor.role != Role.OWNER:
            raise ValidationError("Only an owner can remove an owner.")
    if locked.role == Role.OWNER:
        owners = Membership.objects.select_for_update().filter(
            workspace_id=locked.workspace_id, role=Role.OWNER, is_active=True
        )
        if owners.count() <= 1:
            raise ValidationError("A workspace needs at least one owner: make someone else owner first.")
    if reassign_to is not None and (
        reassign_to.workspace_id != locked.workspace_id or not reassign_to.is_active or reassign_to.pk == locked.pk
    ):
        raise ValidationError({"reassign_to": "Choose another active member of this workspace."})

    locked.is_active = False
    locked.save(update_fields=["is_active"])
    ApiKey.objects.filter(created_by=locked, revoked_at__isnull=True).update(revoked_at=timezone.now())
    for hook in settings.MEMBER_REMOVED_HOOKS:
        import_string(hook)(membership=locked, reassign_to=reassign_to, actor=actor)
    user_id = locked.user_id
    if user_id is not None and not Membership.objects.filter(user_id=user_id, is_active=True).exists():
        transaction.on_commit(lambda: user_sessions_end(user_id=user_id))
    return locked


def user_sessions_end(*, user_id: int) -> int:
    """Sign a user out everywhere: every stored session of theirs is deleted (cache too, with cached_db)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            store(session_key=session.session_key).delete()
            ended += 1
    return ended
