"""backup then restore into an empty database and a fresh data folder: the same deals, history and model files."""

from __future__ import annotations

import tarfile

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from crm.models import Deal, DealHistory
from crm.services import deal_update
from ops.backup import BackupError, backup_restore
from tests.factories import DealFactory

RESTORED = "test_vectoros_restored"


@pytest.fixture
def empty_database():
    """A second, empty database on the test server; dropped afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {RESTORED}")
        cursor.execute(f"CREATE DATABASE {RESTORED}")
    yield {**connection.settings_dict, "NAME": RESTORED}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {RESTORED} WITH (FORCE)")


def _count(db: dict, table: str) -> int:
    with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_backup_then_restore_gives_the_same_deals_history_and_files(personas, settings, tmp_path, empty_database):
    settings.DATA_DIR = tmp_path / "old"
    (tmp_path / "old" / "models" / "acme").mkdir(parents=True)
    (tmp_path / "old" / "models" / "acme" / "v3.json").write_text('{"trained": true}')
    for i in range(5):
        deal = DealFactory(workspace=personas.workspace, title=f"Deal {i}")
        deal_update(deal=deal, actor=personas.owner, changes={"amount": 1000 + i})
    deals, history = Deal.objects.count(), DealHistory.objects.count()
    assert deals == 5 and history >= 5

    backup = tmp_path / "vectoros.tar"
    call_command("backup", "--to", str(backup))
    with tarfile.open(backup) as tar:
        assert {"vectoros-backup.json", "database.dump", "models/acme/v3.json"} <= set(tar.getnames())

    fresh = tmp_path / "new"
    assert backup_restore(source=backup, db=empty_database, data_dir=fresh) == 1
    assert _count(empty_database, "crm_deal") == deals
    assert _count(empty_database, "crm_dealhistory") == history
    assert (fresh / "models" / "acme" / "v3.json").read_text() == '{"trained": true}'

    with pytest.raises(BackupError, match="is not empty"):  # a second restore would mix data: refused
        backup_restore(source=backup, db=empty_database, data_dir=fresh)


@pytest.mark.django_db
def test_restore_refuses_what_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_text("hello")
    with pytest.raises(CommandError, match="is not a VectorOS backup"):
        call_command("restore", "--from", str(junk))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", "--from", str(tmp_path / "missing.tar"))
