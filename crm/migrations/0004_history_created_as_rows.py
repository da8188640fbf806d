"""A deal's creation becomes ordinary history rows (crm.history): each `created` row
{"stage": id, "amount": "..."} turns into a stage row, an amount row and an outcome row (from the
stage's kind), all with old_value NULL and the same moment, author and source; `created` leaves the
field choices.

Plain SQL, one pass over the table, so it stays quick on workspaces with 100,000 deals. The outcome of
a stage kind is written out here (open/won/lost keep their code) rather than imported, so this
migration keeps meaning what it meant when the code moves on.
"""

from django.db import migrations, models

FORWARD = """
INSERT INTO crm_dealhistory (workspace_id, deal_id, field, old_value, new_value, changed_at, changed_by_id, source)
SELECT h.workspace_id, h.deal_id, v.field, NULL, v.value, h.changed_at, h.changed_by_id, h.source
FROM crm_dealhistory h
LEFT JOIN crm_stage s
       ON s.id = CASE WHEN (h.new_value ->> 'stage') ~ '^[0-9]+$' THEN (h.new_value ->> 'stage')::bigint END
CROSS JOIN LATERAL (VALUES
    (1, 'stage', h.new_value -> 'stage'),
    (2, 'amount', h.new_value -> 'amount'),
    (3, 'outcome', to_jsonb(CASE s.kind WHEN 'won' THEN 'won' WHEN 'lost' THEN 'lost' WHEN 'open' THEN 'open' END))
) AS v (position, field, value)
WHERE h.field = 'created' AND v.value IS NOT NULL AND v.value <> 'null'::jsonb
ORDER BY h.id, v.position;

DELETE FROM crm_dealhistory WHERE field = 'created';
"""

# Back to one `created` row per deal made from its stage and amount creation rows; the other creation
# rows (fields the old encoding did not record at creation) go.
BACKWARD = """
INSERT INTO crm_dealhistory (workspace_id, deal_id, field, old_value, new_value, changed_at, changed_by_id, source)
SELECT s.workspace_id, s.deal_id, 'created', NULL,
       jsonb_build_object('stage', s.new_value, 'amount', a.new_value), s.changed_at, s.changed_by_id, s.source
FROM crm_dealhistory s
JOIN crm_deal d ON d.id = s.deal_id AND s.changed_at <= d.created_at
LEFT JOIN crm_dealhistory a
       ON a.deal_id = s.deal_id AND a.field = 'amount' AND a.old_value IS NULL AND a.changed_at = s.changed_at
WHERE s.field = 'stage' AND s.old_value IS NULL;

DELETE FROM crm_dealhistory h USING crm_deal d
WHERE h.deal_id = d.id AND h.field <> 'created' AND h.old_value IS NULL AND h.changed_at <= d.created_at;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0003_deal_soft_delete"),
    ]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.AlterField(
            model_name="dealhistory",
            name="field",
            field=models.CharField(
                choices=[
                    ("stage", "Stage"),
                    ("amount", "Amount"),
                    ("expected_close_date", "Expected close date"),
                    ("owner", "Owner"),
                    ("probability", "Probability"),
                    ("outcome", "Outcome"),
                    ("deleted", "Deleted"),
                ],
                max_length=24,
            ),
        ),
    ]
