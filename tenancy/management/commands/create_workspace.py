from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy.models import Workspace
from tenancy.services import user_get_or_create, workspace_create


class Command(BaseCommand):
    help = "Create a workspace and its owner (the user is created when missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--time-zone", default="UTC")

    def handle(self, *args: object, **options: str) -> None:
        if Workspace.objects.filter(slug=options["slug"]).exists():
            raise CommandError(f"A workspace with the slug {options['slug']!r} exists already.")
        try:
            user = user_get_or_create(email=options["owner_email"], password=options["owner_password"])
            workspace = workspace_create(
                name=options["name"],
                slug=options["slug"],
                owner_user=user,
                currency=options["currency"],
                time_zone=options["time_zone"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"Created workspace {workspace.slug} owned by {user.email}")
