"""`manage.py configure_sso --workspace SLUG --domain example.com (--oidc-issuer URL --client-id X --client-secret Y
| --saml-metadata FILE|URL [--saml-entity-id ID]) [--jit-role rep] [--require-sso] [--remove]`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy import sso
from tenancy.commands import workspace_named


class Command(BaseCommand):
    help = "Set up (or remove) a workspace's single sign-on through OpenID Connect or SAML 2.0."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--domain", action="append", default=[], help="verified email domain (repeatable)")
        parser.add_argument("--oidc-issuer", help="OpenID Connect issuer (or its discovery URL)")
        parser.add_argument("--client-id", default="", help="OIDC client id")
        parser.add_argument(
            "--client-secret",
            default=os.environ.get("SSO_CLIENT_SECRET", ""),
            help="OIDC client secret (or set SSO_CLIENT_SECRET, which keeps it out of the process list)",
        )
        parser.add_argument("--saml-metadata", help="SAML IdP metadata: a file path or an http(s) URL")
        parser.add_argument("--saml-entity-id", default="", help="the IdP's entity id, if the metadata has several")
        parser.add_argument("--jit-role", default="rep", choices=[r.value for r in sso.JIT_ROLES])
        parser.add_argument("--require-sso", action="store_true", help="refuse password sign-in to all but owners")
        parser.add_argument("--remove", action="store_true", help="remove the workspace's SSO")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        if options["remove"]:
            sso.sso_remove(workspace=workspace)
            self.stdout.write(f"SSO removed from {workspace.slug}.")
            return
        if bool(options["oidc_issuer"]) == bool(options["saml_metadata"]):
            raise CommandError("give either --oidc-issuer (with --client-id/--client-secret) or --saml-metadata")
        rules = {"domains": options["domain"], "jit_role": options["jit_role"], "require_sso": options["require_sso"]}
        try:
            if options["oidc_issuer"]:
                configured = sso.sso_configure_oidc(
                    workspace=workspace,
                    issuer=options["oidc_issuer"],
                    client_id=options["client_id"],
                    client_secret=options["client_secret"],
                    **rules,
                )
            else:
                source = options["saml_metadata"]
                metadata: dict[str, str] = {"metadata_url": source}
                if not source.startswith(("http://", "https://")):
                    path = Path(source)
                    if not path.is_file():
                        raise CommandError(f"--saml-metadata {source!r} is neither a file nor an http(s) URL")
                    metadata = {"metadata_xml": path.read_text(encoding="utf-8")}
                configured = sso.sso_configure_saml(
                    workspace=workspace, entity_id=options["saml_entity_id"], **metadata, **rules
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        domains = ", ".join(workspace.sso_domains.values_list("domain", flat=True))
        self.stdout.write(
            f"{workspace.slug}: {configured.protocol_label} SSO for {domains}; new members join as "
            f"{configured.jit_role}{'; SSO required for all but owners' if configured.require_sso else ''}."
        )
