"""SSO client secrets move out of allauth's SocialApp.secret (clear text) into WorkspaceSSO.client_secret (Fernet)."""

from django.db import migrations

import vectoros.crypto


def move_secrets_in(apps, schema_editor):
    WorkspaceSSO = apps.get_model("tenancy", "WorkspaceSSO")
    for sso in WorkspaceSSO.objects.select_related("social_app").exclude(social_app__secret=""):
        sso.client_secret = sso.social_app.secret
        sso.save(update_fields=["client_secret"])
        sso.social_app.secret = ""
        sso.social_app.save(update_fields=["secret"])


def move_secrets_out(apps, schema_editor):
    WorkspaceSSO = apps.get_model("tenancy", "WorkspaceSSO")
    for sso in WorkspaceSSO.objects.select_related("social_app").exclude(client_secret=""):
        sso.social_app.secret = sso.client_secret
        sso.social_app.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0005_api_key_scope_expiry"),
        ("socialaccount", "0006_alter_socialaccount_extra_data"),
    ]

    operations = [
        migrations.AddField(
            model_name="workspacesso",
            name="client_secret",
            field=vectoros.crypto.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(move_secrets_in, move_secrets_out),
    ]
