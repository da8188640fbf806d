from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

from tenancy.services import unique_slug, workspace_create


class AccountAdapter(DefaultAccountAdapter):
    """Signing up creates the new user's own workspace, which they own."""

    @transaction.atomic
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            name = user.email.split("@")[0]
            workspace_create(name=f"{name}'s workspace", slug=unique_slug(name), owner_user=user)
        return user
