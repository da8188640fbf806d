"""`manage.py remove_member --workspace SLUG --email EMAIL [--reassign-to EMAIL]`.

The member leaves the workspace at once: signed out (everywhere, if it was their last workspace), their API
keys revoked, their open deals handed to `--reassign-to` or left unassigned (tenancy.services.membership_remove).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from tenancy.commands import workspace_named
from tenancy.models import Membership, Workspace
from tenancy.services import membership_remove


class Command(BaseCommand):
    help = "Remove (deactivate) a member of a workspace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--email", required=True, help="the member's email")
        parser.add_argument("--reassign-to", default=None, help="email of the member who gets their open deals")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        member = self._member(workspace, options["email"])
        reassign_to = self._member(workspace, options["reassign_to"]) if options["reassign_to"] else None
        try:
            membership_remove(membership=member, actor=None, reassign_to=reassign_to)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        where = f"to {reassign_to.email or reassign_to.display_name}" if reassign_to else "unassigned"
        self.stdout.write(f"Removed {member.email or member.display_name} from {workspace.slug}; open deals {where}.")

    def _member(self, workspace: Workspace, email: str) -> Membership:
        found = (
            Membership.objects.for_workspace(workspace)
            .active()
            .filter(Q(user__email__iexact=email.strip()) | Q(user__isnull=True, email__iexact=email.strip()))
            .order_by("user_id")
            .first()
        )
        if found is None:
            raise CommandError(f"{email!r} is not an active member of {workspace.slug}")
        return found
