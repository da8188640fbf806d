"""What the management commands share: the `--workspace SLUG` lookup, with one clear error for a wrong slug."""

from __future__ import annotations

from django.core.management.base import CommandError

from tenancy.models import Workspace


def workspace_named(slug: str) -> Workspace:
    """The workspace with this slug, or a CommandError that names the slug."""
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with slug {slug!r}.")
    return workspace
