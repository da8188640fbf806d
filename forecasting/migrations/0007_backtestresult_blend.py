from django.db import migrations, models
from django.db.models import Value


class Migration(migrations.Migration):
    dependencies = [
        ("forecasting", "0006_run_simulation"),
    ]

    operations = [
        migrations.AddField(
            model_name="backtestresult",
            name="blend",
            field=models.JSONField(db_default=Value({}, output_field=models.JSONField()), default=dict),
        ),
    ]
