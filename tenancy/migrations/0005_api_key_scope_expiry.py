"""API keys get a scope (read / write), an optional expiry and a visibility (their maker's, or workspace-wide).

Keys made before this were workspace-wide and could write: they keep doing so until revoked. A key goes with its
maker's membership row if that is ever deleted (it used to lose its maker and live on).
"""

import django.db.models.deletion
from django.db import migrations, models


def keep_existing_keys_working(apps, schema_editor):
    apps.get_model("tenancy", "ApiKey").objects.update(scope="write", workspace_wide=True)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0004_invitation_token_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(
                choices=[("read", "Read only"), ("write", "Read and write")], default="read", max_length=5
            ),
        ),
        migrations.AddField(
            model_name="apikey",
            name="workspace_wide",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(keep_existing_keys_working, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apikey",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.membership",
            ),
        ),
    ]
