"""Workspaces (tenants), their members, teams and invitations."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from vectoros.crypto import EncryptedTextField

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and dashes, not starting or ending with a dash.",
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/Paris, UTC).")


class Workspace(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    currency = models.CharField(max_length=3, default="USD")
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Demo workspaces hold synthetic data; pages say so.
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def today(self) -> date:
        """Today's date where the workspace is (its quarters and close dates are in its own time zone)."""
        return timezone.localtime(timezone.now(), self.tz).date()

    def fiscal_quarter_bounds(self, day: date) -> tuple[date, date]:
        """First and last day of the fiscal quarter that contains `day`."""
        offset = (day.month - self.fiscal_year_start_month) % 12
        start_month_index = day.month - (offset % 3)  # may be <= 0
        year = day.year + (start_month_index - 1) // 12
        month = (start_month_index - 1) % 12 + 1
        start = date(year, month, 1)
        end_month_index = month + 3
        end_year = year + (end_month_index - 1) // 12
        end_month = (end_month_index - 1) % 12 + 1
        end = date.fromordinal(date(end_year, end_month, 1).toordinal() - 1)
        return start, end


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    REP = "rep", "Rep"
    VIEWER = "viewer", "Viewer"


class Team(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    manager = models.ForeignKey(
        "tenancy.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="team_unique_name")]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet["Membership"]):
    def for_workspace(self, workspace: Workspace) -> MembershipQuerySet:
        return self.filter(workspace=workspace)

    def active(self) -> MembershipQuerySet:
        return self.filter(is_active=True)


class Membership(models.Model):
    """A person in a workspace. `user` is empty for people imported from another CRM who have no login."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    display_name = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    is_active = models.BooleanField(default=True)
    external_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user"], condition=Q(user__isnull=False), name="membership_unique_user"
            ),
            models.UniqueConstraint(
                fields=["workspace", "external_id"], condition=~Q(external_id=""), name="membership_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def sees_everything(self) -> bool:
        return self.role in {Role.OWNER, Role.ADMIN, Role.VIEWER}

    @property
    def can_administer(self) -> bool:
        return self.role in {Role.OWNER, Role.ADMIN}


class Invitation(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    # sha256 of the token in the invitation link; the raw token is only in the email (see invitation_create).
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.workspace}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class PendingJob(models.Model):
    """A unit of coalesced background work: at most one pending row per key.

    `jobs.enqueue_coalesced` inserts the row and enqueues a task only when the row is new, so a burst
    of changes before the task starts becomes one run.
    """

    key = models.CharField(max_length=200, unique=True)
    func = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        """Keys that open the API now: not revoked, not expired, and made by a member still in the workspace
        (or, without a maker, made workspace-wide from the command line)."""
        now = timezone.now()
        maker_present = Q(created_by__is_active=True) & (
            Q(created_by__user__isnull=True) | Q(created_by__user__is_active=True)
        )
        return self.filter(
            Q(revoked_at__isnull=True),
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            maker_present | Q(created_by__isnull=True, workspace_wide=True),
        )


class ApiKey(models.Model):
    """A per-workspace REST API key. Only a SHA-256 hash of the key is stored; the key is shown once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    # Empty only for keys made by `create_api_key` (workspace-wide). A maker's deleted membership takes their keys
    # with it, so a key never outlives its maker by turning into a maker-less, workspace-wide one.
    created_by = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A read key answers 403 to every write method; a write key may do what its Scope may.
    scope = models.CharField(max_length=5, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Off: the key sees what its maker's Scope sees. On (admins only): the whole workspace.
    workspace_wide = models.BooleanField(default=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.WRITE

    @property
    def state(self) -> str:
        """ "revoked", "expired" or "active", for the keys page."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class WorkspaceSSO(models.Model):
    """A workspace's single sign-on: its identity provider (an allauth `SocialApp`) and the rules around it.

    The `SocialApp` has provider `openid_connect` or `saml` and `provider_id` (and, for SAML, `client_id`) equal
    to the workspace slug, so allauth's own login URLs name the workspace.
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="sso")
    social_app = models.OneToOneField("socialaccount.SocialApp", on_delete=models.PROTECT, related_name="workspace_sso")
    # The role a person from a verified domain gets on their first SSO sign-in (just-in-time membership).
    jit_role = models.CharField(max_length=10, choices=Role.choices, default=Role.REP)
    # Everyone but owners must sign in through SSO; their password sign-in is refused.
    require_sso = models.BooleanField(default=False)
    # The OIDC client secret, encrypted at rest; the SocialApp's own `secret` column stays empty and
    # tenancy.adapters.SocialAccountAdapter.list_apps hands allauth the decrypted value in memory.
    client_secret = EncryptedTextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"SSO of {self.workspace}"

    @property
    def protocol(self) -> str:
        return self.social_app.provider

    @property
    def protocol_label(self) -> str:
        return "SAML 2.0" if self.protocol == "saml" else "OpenID Connect"


class SSODomain(models.Model):
    """An email domain that belongs to one workspace: its people sign in through that workspace's SSO."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sso_domains")
    domain = models.CharField(max_length=253, unique=True)
    verified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class IdempotentRequest(models.Model):
    """The first answer to an API POST sent with an `Idempotency-Key`, replayed to the same API key for 24 hours.

    `status` is null while that first request is still running. `fingerprint` (a hash of method, path and body) tells
    a retry of the same request from a different request reusing the key.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'running'})"
