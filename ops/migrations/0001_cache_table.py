"""The database cache's table (settings.CACHES without REDIS_URL), made even when Redis is configured now so that
dropping REDIS_URL later needs no extra step. Idempotent: an existing table is left alone."""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "vectoros_cache"  # settings.CACHES["default"]["LOCATION"] without REDIS_URL


def create_cache_table(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=False)]
